#pragma once
// run_blocking: hop to the blocking pool, run, hop back to the caller's executor.

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <optional>
#include <type_traits>

namespace aigw::daemon::http {

/// The threads for blocking work (4), created on first use.
asio::thread_pool& blocking_pool();

template <class F>
auto run_blocking(F fn) -> asio::awaitable<decltype(fn())>
{
    using R = decltype(fn());
    auto home = co_await asio::this_coro::executor;
    co_await asio::post(asio::bind_executor(blocking_pool(), asio::use_awaitable));
    std::exception_ptr error;
    if constexpr (std::is_void_v<R>) {
        try {
            fn();
        } catch (...) {
            error = std::current_exception();
        }
        co_await asio::post(asio::bind_executor(home, asio::use_awaitable));
        if (error) {
            std::rethrow_exception(error);
        }
    } else {
        std::optional<R> result;
        try {
            result.emplace(fn());
        } catch (...) {
            error = std::current_exception();
        }
        co_await asio::post(asio::bind_executor(home, asio::use_awaitable));
        if (error) {
            std::rethrow_exception(error);
        }
        co_return std::move(*result);
    }
}

}  // namespace aigw::daemon::http
