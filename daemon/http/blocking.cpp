#include "daemon/http/server.hpp"

namespace aigw::daemon::http {

asio::thread_pool& blocking_pool()
{
    static asio::thread_pool pool(4);
    return pool;
}

}  // namespace aigw::daemon::http
