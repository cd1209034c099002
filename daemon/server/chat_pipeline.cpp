#include "daemon/server/chat_pipeline.hpp"

#include "daemon/providers/mock.hpp"

#include <httplib.h>

#include <thread>

namespace aigw::daemon::server {

namespace {

std::int64_t unix_s()
{
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::int64_t ms_since(std::chrono::steady_clock::time_point t0)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
}

bool is_usage_only(const nlohmann::json& chunk)
{
    auto c = chunk.find("choices");
    auto u = chunk.find("usage");
    return c != chunk.end() && c->is_array() && c->empty() && u != chunk.end() && u->is_object();
}

/// A chunk that carries text, reasoning or a tool call (role-only and empty ones don't).
bool has_content(const nlohmann::json& chunk)
{
    auto c = chunk.find("choices");
    if (c == chunk.end() || !c->is_array()) {
        return false;
    }
    for (const auto& choice : *c) {
        auto d = choice.find("delta");
        if (d == choice.end() || !d->is_object()) {
            continue;
        }
        for (const char* field : {"content", "reasoning_content", "refusal"}) {
            auto f = d->find(field);
            if (f != d->end() && f->is_string() && !f->get_ref<const std::string&>().empty()) {
                return true;
            }
        }
        if (d->contains("tool_calls")) {
            return true;
        }
    }
    return false;
}

wire::Failure cut_stream_failure(const Exchange& ex)
{
    wire::Failure f;
    f.kind = wire::FailureKind::upstream;
    f.status = 502;
    f.message = "the upstream stream from " + ex.route.resolved.id +
                " ended before its final event; the answer is incomplete";
    return f;
}

/// State of one streamed answer, shared by the content provider and its releaser.
struct StreamState {
    std::shared_ptr<Exchange> ex;
    std::unique_ptr<StreamWriter> writer;
    // upstream streams
    std::shared_ptr<routing::UpstreamStream> upstream;
    std::unique_ptr<providers::StreamTranslator> translator;
    std::unique_ptr<providers::StreamDecoder> decoder;
    // mock streams
    std::vector<nlohmann::json> mock_chunks;
    std::size_t mock_next = 0;
    std::chrono::milliseconds mock_delay{0};
    wire::Usage mock_usage;

    bool passthrough = false;    ///< relay upstream bytes as they are; the translator only taps

    std::int64_t ttft_ms = -1;
    bool finished = false;       ///< the terminal bytes were written (complete or error)
    std::optional<wire::Failure> failure;
    std::string scratch;
    std::vector<wire::SseEvent> events;
    std::vector<nlohmann::json> chunks;
};

void write_chunks(StreamState& st, std::string& out)
{
    for (const auto& c : st.chunks) {
        if (st.ttft_ms < 0 && has_content(c)) {
            st.ttft_ms = ms_since(st.ex->t0);
        }
        st.writer->chunk(c, out);
    }
    st.chunks.clear();
}

}  // namespace

void OpenAiStreamWriter::chunk(const nlohmann::json& chunk, std::string& out)
{
    if (!m_include_usage && is_usage_only(chunk)) {
        return;
    }
    out += "data: ";
    out += chunk.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out += "\n\n";
}

void OpenAiStreamWriter::done(const wire::Usage&, double cost_usd, std::string& out)
{
    // The cost is not known when the headers go out; an SSE comment carries it at the end
    // for clients that want it (SDKs ignore comments).
    out += ": x-aigw-cost-usd=";
    out += format_cost(cost_usd);
    out += "\n\ndata: [DONE]\n\n";
}

void OpenAiStreamWriter::error(const wire::Failure& f, std::string& out)
{
    out += wire::sse_data(wire::to_openai_error(f).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

std::expected<providers::ChatResult, wire::Failure> run_chat(Gateway& gw, Exchange& ex, const nlohmann::json& canonical)
{
    const routing::Route& route = ex.route;
    if (route.is_mock()) {
        return providers::mock::complete(canonical, route.target.model, ex.request_id, unix_s());
    }
    auto up_req = route.adapter->chat_request(canonical, route.target, false);
    if (!up_req) {
        return std::unexpected(std::move(up_req.error()));
    }
    auto resp = gw.upstream().send(route.target.base_url, *up_req);
    if (!resp) {
        return std::unexpected(std::move(resp.error()));
    }
    if (resp->status < 200 || resp->status >= 300) {
        return std::unexpected(route.adapter->classify_error(resp->status, resp->body, resp->headers));
    }
    return route.adapter->chat_response(resp->body, route.target);
}

namespace {

/// Hands the stream to cpp-httplib: the content provider pulls from the upstream (or the
/// mock), writes through the surface's writer, and the releaser records the ledger row.
void install_stream_body(Gateway& gw, std::shared_ptr<StreamState> st, httplib::Response& res)
{
    Gateway* gwp = &gw;
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream",
        [st, gwp](size_t, httplib::DataSink& sink) -> bool {
            if (st->finished) {
                sink.done();
                return true;
            }
            std::string& out = st->scratch;
            out.clear();
            if (st->upstream == nullptr) {
                // Mock: one chunk per call, paced by the model's delay.
                if (st->mock_next > 0 && st->mock_delay.count() > 0) {
                    std::this_thread::sleep_for(st->mock_delay);
                }
                if (st->mock_next < st->mock_chunks.size()) {
                    st->chunks.push_back(std::move(st->mock_chunks[st->mock_next++]));
                    write_chunks(*st, out);
                }
                if (st->mock_next == st->mock_chunks.size()) {
                    st->writer->done(st->mock_usage, gwp->cost_of(*st->ex, st->mock_usage), out);
                    st->finished = true;
                }
            } else {
                std::string bytes;
                auto r = st->upstream->read(bytes, std::chrono::milliseconds(250));
                if (r == routing::UpstreamStream::ReadResult::waiting) {
                    return sink.is_writable();  // false: the client went away
                }
                st->events.clear();
                if (!bytes.empty()) {
                    if (auto fed = st->decoder->feed(bytes, st->events); !fed) {
                        st->failure = std::move(fed.error());
                    }
                }
                if (r != routing::UpstreamStream::ReadResult::data) {
                    st->decoder->finish(st->events);
                }
                for (const auto& ev : st->events) {
                    if (st->failure || st->translator->finished()) {
                        break;
                    }
                    auto ok = st->translator->on_event(ev, st->chunks);
                    if (!ok) {
                        st->failure = std::move(ok.error());
                    }
                }
                st->events.clear();
                if (st->passthrough) {
                    // The tap's chunks only mark content for time-to-first-token.
                    for (const auto& c : st->chunks) {
                        if (st->ttft_ms < 0 && has_content(c)) {
                            st->ttft_ms = ms_since(st->ex->t0);
                        }
                    }
                    st->chunks.clear();
                    out += bytes;  // an upstream error event too goes out as the upstream sent it
                } else {
                    write_chunks(*st, out);
                }
                if (st->failure) {
                    if (!st->passthrough) {
                        st->writer->error(*st->failure, out);
                    }
                    st->finished = true;
                } else if (r == routing::UpstreamStream::ReadResult::failed ||
                           r == routing::UpstreamStream::ReadResult::end) {
                    if (st->translator->finished()) {
                        auto usage = st->translator->usage();
                        if (!st->passthrough) {
                            st->writer->done(usage, gwp->cost_of(*st->ex, usage), out);
                        }
                    } else {
                        st->failure = cut_stream_failure(*st->ex);
                        st->writer->error(*st->failure, out);
                    }
                    st->finished = true;
                }
            }
            if (!out.empty() && !sink.write(out.data(), out.size())) {
                return false;
            }
            if (st->finished) {
                sink.done();
            }
            return true;
        },
        [st, gwp](bool success) {
            if (st->upstream) {
                st->upstream->cancel();
            }
            wire::Usage usage = st->upstream ? st->translator->usage() : st->mock_usage;
            int status = 200;
            std::string error;
            if (st->failure) {
                status = st->failure->status;
                error = st->failure->message;
            } else if (!success || !st->finished) {
                status = 499;  // client closed the connection before the end
                error = "client disconnected mid-stream";
            }
            gwp->record(*st->ex, status, usage, gwp->cost_of(*st->ex, usage), std::move(error), st->ttft_ms);
        });
}

}  // namespace

std::expected<void, wire::Failure> start_chat_stream(Gateway& gw, std::shared_ptr<Exchange> ex,
                                                     const nlohmann::json& canonical,
                                                     std::unique_ptr<StreamWriter> writer, httplib::Response& res)
{
    auto st = std::make_shared<StreamState>();
    st->ex = ex;
    st->writer = std::move(writer);
    const routing::Route& route = ex->route;

    if (route.is_mock()) {
        st->mock_chunks = providers::mock::stream_chunks(canonical, route.target.model, ex->request_id, unix_s());
        st->mock_delay = providers::mock::chunk_delay(route.target.model);
        if (!st->mock_chunks.empty() && is_usage_only(st->mock_chunks.back())) {
            st->mock_usage = wire::usage_from_openai(st->mock_chunks.back()["usage"]);
        }
    } else {
        auto up_req = route.adapter->chat_request(canonical, route.target, true);
        if (!up_req) {
            return std::unexpected(std::move(up_req.error()));
        }
        st->upstream = gw.upstream().open_stream(route.target.base_url, *up_req);
        auto status = st->upstream->wait_status();
        if (!status) {
            return std::unexpected(std::move(status.error()));
        }
        if (*status < 200 || *status >= 300) {
            std::string body;
            st->upstream->read_all(body);
            return std::unexpected(route.adapter->classify_error(*status, body, st->upstream->headers()));
        }
        st->translator = route.adapter->chat_stream(route.target);
        st->decoder = route.adapter->stream_decoder();
    }

    install_stream_body(gw, st, res);
    return {};
}

std::expected<void, PassthroughFailure> start_passthrough_stream(Gateway& gw, std::shared_ptr<Exchange> ex,
                                                                 const providers::UpstreamRequest& upstream_request,
                                                                 std::unique_ptr<providers::StreamTranslator> tap,
                                                                 std::unique_ptr<StreamWriter> writer,
                                                                 httplib::Response& res)
{
    auto st = std::make_shared<StreamState>();
    st->ex = ex;
    st->writer = std::move(writer);
    st->passthrough = true;
    st->translator = std::move(tap);
    st->decoder = providers::make_sse_decoder();
    st->upstream = gw.upstream().open_stream(ex->route.target.base_url, upstream_request);
    auto status = st->upstream->wait_status();
    if (!status) {
        return std::unexpected(PassthroughFailure{std::move(status.error()), {}});
    }
    if (*status < 200 || *status >= 300) {
        PassthroughFailure pf;
        st->upstream->read_all(pf.upstream_body);
        pf.failure = ex->route.adapter->classify_error(*status, pf.upstream_body, st->upstream->headers());
        return std::unexpected(std::move(pf));
    }
    install_stream_body(gw, st, res);
    return {};
}

}  // namespace aigw::daemon::server
