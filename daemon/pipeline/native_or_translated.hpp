#pragma once
// A request on a surface with a wire of its own (Anthropic's /v1/messages, Gemini's
// generateContent): a provider that speaks that wire gets the client's body natively, any
// other gets it through the canonical (OpenAI chat) form, and the answer comes back in the
// surface's format either way. NativeOrTranslated holds the steps that do not depend on
// the surface: the canonical form, made once when first needed (a request served natively
// never needs it); the cache, which holds canonical answers only; the translated attempt;
// and the request's last word after Dispatcher::run(). A handler keeps what only it knows:
// how to parse and check its body, and the native attempt.
//
//   NativeOrTranslated nt(d, ex, body, surface_wire);
//   if (co_await nt.answered_from_cache(req, res, out)) co_return;
//   auto served = co_await d.run(*ex, nt.run_body(), body, [&](route) {
//       nt.native_error_body.clear();
//       if (route speaks the wire) { ... fill nt.stream/nt.writer, or nt.take_native_answer(...) }
//       return nt.translated_attempt();
//   });
//   co_await nt.finish(served, req, std::move(res), out);

#include "daemon/pipeline/cache_glue.hpp"

#include <functional>

namespace aigw::daemon::pipeline {

/// How a surface with a wire of its own reads and writes the canonical form.
struct SurfaceWire {
    config::WireFormat native = config::WireFormat::openai;  ///< its providers get the client's body as is
    Shape shape = Shape::openai;                             ///< the surface's error shape
    /// The client's body in the canonical form, or why it has none. The requested model and
    /// "stream" are set on the result afterwards.
    std::function<std::expected<nlohmann::json, wire::Failure>(const nlohmann::json& body)> to_canonical;
    /// A new writer of canonical chunks in the surface's stream format.
    std::function<std::unique_ptr<StreamWriter>()> stream_writer;
    /// A canonical chat.completion as the surface's response body.
    RenderCached render;
};

class NativeOrTranslated {
public:
    /// `body` is the client's parsed body; it must outlive this object, and finish() empties
    /// it. ex->requested_model and ex->stream are already set.
    NativeOrTranslated(Dispatcher& d, std::shared_ptr<Exchange> ex, nlohmann::json& body, SurfaceWire wire);

    /// The cache step, before the attempts. A request whose model is served on the native
    /// wire is never cached (passthrough keeps every native field; the cache holds canonical
    /// answers) and gets x-aigw-cache: MISS. Any other is translated and looked up
    /// (serve_from_cache; a hit replays through the surface's writer or render). Returns
    /// true when the answer has been sent: a hit, a bad cache header, or a body that cannot
    /// be translated (recorded, in the surface's shape).
    asio::awaitable<bool> answered_from_cache(const http::Request& req, http::Response& res, http::Responder& out);

    /// What Dispatcher::run() runs over: the canonical form when it has been made, else the
    /// client's body.
    const nlohmann::json& run_body() const { return m_canonical ? *m_canonical : m_body; }

    /// One attempt on a route that does not speak the native wire: the translated stream,
    /// opened and held back (stream, writer; stored in the cache when it completes), or the
    /// whole answer rendered in the surface's format (answer, usage; stored in the cache).
    /// A body that cannot be translated is the attempt's failure.
    asio::awaitable<std::expected<void, wire::Failure>> translated_attempt();

    /// A native non-stream answer: `body` goes back to the client untouched; its usage is
    /// read for the ledger (usage_error says why, when it cannot be).
    void take_native_answer(std::string body, const routing::Route& route);

    /// The request's last word after Dispatcher::run(): the route headers, then the failure
    /// (the upstream's own error body when a native attempt had the last word), the relayed
    /// stream, or the whole answer with its cost. A stream is relayed without the request:
    /// `req`, the client's body and the canonical form are freed first (drop_request), as
    /// no attempt reads them again and a stream may stay open for minutes.
    asio::awaitable<void> finish(const std::expected<void, wire::Failure>& served, http::Request& req,
                                 http::Response res, http::Responder& out);

    // ---- what the attempts leave for finish(); a native attempt fills them itself ----
    std::string native_error_body;  ///< the upstream's own error (scrubbed); each attempt clears it first
    std::shared_ptr<StreamState> stream;
    std::unique_ptr<StreamWriter> writer;
    std::string answer;  ///< non-stream: the body to return
    wire::Usage usage;
    std::string usage_error;  ///< why a native answer's usage could not be read ("" when it could)

private:
    std::expected<void, wire::Failure> make_canonical();

    Dispatcher& m_d;
    std::shared_ptr<Exchange> m_ex;
    nlohmann::json& m_body;
    SurfaceWire m_wire;
    std::optional<nlohmann::json> m_canonical;
};

}  // namespace aigw::daemon::pipeline
