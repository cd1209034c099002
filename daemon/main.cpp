#include "daemon/app/daemon_main.hpp"

int main(int argc, char** argv)
{
    return aigw::daemon::daemon_main(argc, argv);
}
