// The response cache without sockets: keys, TTL and LRU with an injected clock, the entry
// cap, persistence, stream replay/assembly, the semantic index and the cache plan.

#include "daemon/cache/cache_key.hpp"
#include "daemon/cache/replay.hpp"
#include "daemon/cache/response_cache.hpp"
#include "daemon/cache/semantic_index.hpp"
#include "daemon/providers/mock/mock.hpp"
#include "daemon/pipeline/cache_glue.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <random>

using aigw::daemon::cache::assemble_completion;
using aigw::daemon::cache::cache_key;
using aigw::daemon::cache::CachedAnswer;
using aigw::daemon::cache::CacheOptions;
using aigw::daemon::cache::replay_chunks;
using aigw::daemon::cache::ResponseCache;
using aigw::daemon::cache::SemanticIndex;
using aigw::daemon::cache::SemanticVector;
using aigw::daemon::cache::StoreResult;
using nlohmann::json;

namespace {

json request(const std::string& prompt = "What is SSE?")
{
    return {{"model", "openai/gpt-4o-mini"},
            {"messages",
             json::array({{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", prompt}}})},
            {"temperature", 0.2}};
}

/// A clock the test moves by hand (unix ms).
struct FakeClock {
    std::shared_ptr<std::atomic<std::int64_t>> now = std::make_shared<std::atomic<std::int64_t>>(1'700'000'000'000);
    std::function<std::int64_t()> fn() const
    {
        auto n = now;
        return [n] { return n->load(); };
    }
    void advance_s(std::int64_t s) { *now += s * 1000; }
};

CachedAnswer answer(const std::string& key, std::size_t body_bytes = 100, double cost = 0.001)
{
    CachedAnswer a;
    a.key = key;
    a.body = std::string(body_bytes, 'x');
    a.cost_usd = cost;
    a.served_model = "openai/gpt-4o-mini";
    a.usage.input_tokens = 10;
    a.usage.output_tokens = 5;
    return a;
}

std::unique_ptr<ResponseCache> memory_cache(const FakeClock& clock, std::int64_t max_bytes = 1 << 20,
                                            std::int64_t max_entry = 1 << 16)
{
    CacheOptions o;
    o.now_ms = clock.fn();
    o.max_bytes = max_bytes;
    o.max_entry_bytes = max_entry;
    o.default_ttl_s = 60;
    return std::move(*ResponseCache::open({}, o));
}

std::filesystem::path temp_dir()
{
    static std::mt19937_64 rng{std::random_device{}()};
    auto dir = std::filesystem::temp_directory_path() / ("aigw-cache-unit-" + std::to_string(rng()));
    std::filesystem::create_directories(dir);
    return dir;
}

json completion_text()
{
    return json::parse(R"({
      "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o-mini",
      "system_fingerprint": "fp_x",
      "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there, friend.", "refusal": null},
                   "logprobs": null, "finish_reason": "stop"}],
      "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}
    })");
}

json completion_tools()
{
    return json::parse(R"({
      "id": "chatcmpl-2", "object": "chat.completion", "created": 1700000001, "model": "gpt-4o-mini",
      "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "refusal": null, "tool_calls": [
          {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
          {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": "{\"tz\":\"CET\"}"}}]},
        "logprobs": null, "finish_reason": "tool_calls"}],
      "usage": {"prompt_tokens": 20, "completion_tokens": 12, "total_tokens": 32}
    })");
}

}  // namespace

TEST_SUITE("cache key")
{
    TEST_CASE("the key ignores the order of keys, stream, stream_options, user, metadata and store")
    {
        const json a = request();
        json b = json::parse(R"({"temperature": 0.2, "messages": [{"content": "Be brief.", "role": "system"},
                                 {"content": "What is SSE?", "role": "user"}], "model": "openai/gpt-4o-mini"})");
        CHECK(cache_key(a) == cache_key(b));
        b["stream"] = true;
        b["stream_options"] = {{"include_usage", true}};
        b["user"] = "alice";
        b["metadata"] = {{"trace", "abc"}};
        b["store"] = true;
        CHECK(cache_key(a) == cache_key(b));
        CHECK(cache_key(a).size() == 64);
    }

    TEST_CASE("the key changes with temperature, tools, tool_choice, max_tokens, seed, messages and model")
    {
        const json base = request();
        const std::string k = cache_key(base);
        auto with = [&](const char* field, json value) {
            json r = base;
            r[field] = std::move(value);
            return cache_key(r);
        };
        CHECK(with("temperature", 0.3) != k);
        CHECK(with("tools", json::array({{{"type", "function"}, {"function", {{"name", "f"}}}}})) != k);
        CHECK(with("tool_choice", "required") != k);
        CHECK(with("max_tokens", 10) != k);
        CHECK(with("seed", 7) != k);
        CHECK(with("response_format", {{"type", "json_object"}}) != k);
        CHECK(with("model", "openai/gpt-4o") != k);
        CHECK(cache_key(request("What is SSE? ")) != k);
        CHECK(cache_key(base, "groq/llama") != k);  // the served model replaces the requested one
    }

    TEST_CASE("temperature 1 and 1.0 are the same request")
    {
        json a = request();
        json b = request();
        a["temperature"] = 1;
        b["temperature"] = 1.0;
        CHECK(cache_key(a) == cache_key(b));
    }

    TEST_CASE("an alias and its target share a key once the served model is given")
    {
        json a = request();
        json b = request();
        a["model"] = "fast";
        CHECK(cache_key(a, "openai/gpt-4o-mini") == cache_key(b, "openai/gpt-4o-mini"));
    }

    TEST_CASE("the semantic partition ignores the last message but not the earlier ones or the parameters")
    {
        using aigw::daemon::cache::semantic_partition;
        CHECK(semantic_partition(request("a")) == semantic_partition(request("completely different")));
        json other_system = request("a");
        other_system["messages"][0]["content"] = "Be verbose.";
        CHECK(semantic_partition(other_system) != semantic_partition(request("a")));
        json hot = request("a");
        hot["temperature"] = 0.9;
        CHECK(semantic_partition(hot) != semantic_partition(request("a")));
        CHECK(semantic_partition(request("a")) != cache_key(request("a")));
    }

    TEST_CASE("the semantic text is the last user message's text, and nothing for tool results or images")
    {
        using aigw::daemon::cache::semantic_text;
        CHECK(semantic_text(request("hello")) == "hello");
        json parts = request();
        parts["messages"][1]["content"] =
            json::array({{{"type", "text"}, {"text", "one"}}, {{"type", "text"}, {"text", "two"}}});
        CHECK(semantic_text(parts) == "one\ntwo");
        json image = request();
        image["messages"][1]["content"] = json::array({{{"type", "text"}, {"text", "what is this"}},
                                                       {{"type", "image_url"}, {"image_url", {{"url", "data:x"}}}}});
        CHECK_FALSE(semantic_text(image).has_value());
        json tool = request();
        tool["messages"].push_back({{"role", "tool"}, {"tool_call_id", "c"}, {"content", "42"}});
        CHECK_FALSE(semantic_text(tool).has_value());
        CHECK_FALSE(semantic_text(request("   ")).has_value());
    }
}

TEST_SUITE("response cache")
{
    TEST_CASE("a stored answer is a hit with its age, and counts hits, misses and what it saved")
    {
        FakeClock clock;
        auto c = memory_cache(clock);
        CHECK_FALSE(c->lookup("k1").has_value());
        c->count_miss();
        REQUIRE(c->store(answer("k1", 100, 0.002)) == StoreResult::stored);
        clock.advance_s(7);
        auto hit = c->lookup("k1");
        REQUIRE(hit.has_value());
        CHECK(hit->age_s == 7);
        CHECK(hit->saved_usd == doctest::Approx(0.002));
        CHECK(hit->answer->body == std::string(100, 'x'));
        CHECK(hit->answer->usage.output_tokens == 5);
        CHECK_FALSE(hit->similarity.has_value());
        auto s = c->stats();
        CHECK(s.hits == 1);
        CHECK(s.misses == 1);
        CHECK(s.entries == 1);
        CHECK(s.saved_usd == doctest::Approx(0.002));
        CHECK(s.hit_rate() == doctest::Approx(0.5));
    }

    TEST_CASE("an entry expires after its TTL (default or per store)")
    {
        FakeClock clock;
        auto c = memory_cache(clock);  // default TTL 60 s
        c->store(answer("default"));
        c->store(answer("short"), 5);
        clock.advance_s(5);
        CHECK_FALSE(c->lookup("short").has_value());
        CHECK(c->lookup("default").has_value());
        clock.advance_s(55);
        CHECK_FALSE(c->lookup("default").has_value());
        CHECK(c->stats().expirations == 2);
        CHECK(c->stats().entries == 0);
        CHECK(c->stats().bytes == 0);
    }

    TEST_CASE("max_age refuses an entry older than the request accepts, without dropping it")
    {
        FakeClock clock;
        auto c = memory_cache(clock);
        c->store(answer("k"));
        clock.advance_s(10);
        CHECK_FALSE(c->lookup("k", 5).has_value());
        CHECK(c->lookup("k", 10).has_value());
        CHECK(c->lookup("k").has_value());
    }

    TEST_CASE("purge_expired drops expired entries without a lookup")
    {
        FakeClock clock;
        auto c = memory_cache(clock);
        c->store(answer("a"), 1);
        c->store(answer("b"), 100);
        clock.advance_s(2);
        c->purge_expired();
        CHECK(c->stats().entries == 1);
        CHECK(c->stats().expirations == 1);
    }

    TEST_CASE("the least recently used entry is evicted when the size limit is reached")
    {
        FakeClock clock;
        // Room for three entries of ~1 KB (the body plus bookkeeping), not four.
        auto c = memory_cache(clock, 3 * 1300);
        c->store(answer("a", 1000));
        c->store(answer("b", 1000));
        c->store(answer("c", 1000));
        REQUIRE(c->lookup("a").has_value());  // a is now the most recently used; b the least
        c->store(answer("d", 1000));
        CHECK_FALSE(c->lookup("b").has_value());
        CHECK(c->lookup("a").has_value());
        CHECK(c->lookup("c").has_value());
        CHECK(c->lookup("d").has_value());
        CHECK(c->stats().evictions == 1);
        CHECK(c->stats().entries == 3);
        CHECK(c->stats().bytes <= 3 * 1300);
    }

    TEST_CASE("an answer over the entry cap is not stored and is counted")
    {
        FakeClock clock;
        auto c = memory_cache(clock, 1 << 20, 500);
        CHECK(c->store(answer("big", 501)) == StoreResult::too_large);
        CHECK(c->store(answer("fits", 500)) == StoreResult::stored);
        CHECK_FALSE(c->lookup("big").has_value());
        CHECK(c->stats().too_large == 1);
    }

    TEST_CASE("storing the same key again replaces the entry and keeps the byte count right")
    {
        FakeClock clock;
        auto c = memory_cache(clock);
        c->store(answer("k", 100));
        const auto one = c->stats().bytes;
        c->store(answer("k", 300));
        CHECK(c->stats().entries == 1);
        CHECK(c->stats().bytes == one + 200);
        CHECK(c->lookup("k")->answer->body.size() == 300);
    }

    TEST_CASE("clear removes every entry and says how many there were")
    {
        FakeClock clock;
        auto c = memory_cache(clock);
        c->store(answer("a"));
        c->store(answer("b"), std::nullopt, SemanticVector{"p", {1, 0}});
        CHECK(c->clear() == 2);
        CHECK_FALSE(c->lookup("a").has_value());
        CHECK(c->stats().entries == 0);
        CHECK(c->stats().semantic_entries == 0);
    }

    TEST_CASE("entries survive a restart through cache.db (mode 0600), expired ones do not")
    {
        FakeClock clock;
        const auto dir = temp_dir();
        const auto path = dir / "cache.db";
        CacheOptions o;
        o.now_ms = clock.fn();
        o.default_ttl_s = 60;
        {
            auto c = std::move(*ResponseCache::open(path, o));
            CachedAnswer a = answer("live", 50, 0.01);
            a.usage.cache_write_tokens = 3;
            c->store(std::move(a));
            c->store(answer("short"), 1);
            c->store(answer("vec"), std::nullopt, SemanticVector{"part", {0.6f, 0.8f}});
            c->close();
        }
        struct stat st {};
        REQUIRE(::stat(path.c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0600);
        clock.advance_s(2);
        {
            auto c = std::move(*ResponseCache::open(path, o));
            auto hit = c->lookup("live");
            REQUIRE(hit.has_value());
            CHECK(hit->age_s == 2);
            CHECK(hit->saved_usd == doctest::Approx(0.01));
            CHECK(hit->answer->usage.cache_write_tokens == 3);
            CHECK(hit->answer->served_model == "openai/gpt-4o-mini");
            CHECK_FALSE(c->lookup("short").has_value());
            CHECK(c->stats().entries == 2);
            CHECK(c->stats().semantic_entries == 1);
            const float q[] = {0.6f, 0.8f};
            auto m = c->lookup_semantic("part", q, 0.99);
            REQUIRE(m.has_value());
            CHECK(m->answer->key == "vec");
            c->clear();
            c->flush();
        }
        {
            auto c = std::move(*ResponseCache::open(path, o));
            CHECK(c->stats().entries == 0);
        }
        std::filesystem::remove_all(dir);
    }

    TEST_CASE("a cache.db from a newer aigw is refused with what to do")
    {
        const auto dir = temp_dir();
        const auto path = dir / "cache.db";
        {
            auto c = std::move(*ResponseCache::open(path, {}));
            c->close();
        }
        {
            SQLite::Database db(path.string(), SQLite::OPEN_READWRITE);
            db.exec("PRAGMA user_version = 99");
        }
        auto c = ResponseCache::open(path, {});
        REQUIRE_FALSE(c.has_value());
        CHECK(c.error().find("newer aigw") != std::string::npos);
        CHECK(c.error().find(path.string()) != std::string::npos);
        std::filesystem::remove_all(dir);
    }
}

TEST_SUITE("replay")
{
    TEST_CASE("a text answer replays as role, content, finish and usage chunks with the completion's id")
    {
        const auto chunks = replay_chunks(completion_text());
        REQUIRE(chunks.size() == 4);
        for (const auto& c : chunks) {
            CHECK(c["object"] == "chat.completion.chunk");
            CHECK(c["id"] == "chatcmpl-1");
            CHECK(c["model"] == "gpt-4o-mini");
            CHECK(c["system_fingerprint"] == "fp_x");
        }
        CHECK(chunks[0]["choices"][0]["delta"]["role"] == "assistant");
        CHECK(chunks[1]["choices"][0]["delta"]["content"] == "Hello there, friend.");
        CHECK(chunks[2]["choices"][0]["finish_reason"] == "stop");
        CHECK(chunks[2]["choices"][0]["delta"] == json::object());
        CHECK(chunks[3]["choices"] == json::array());
        CHECK(chunks[3]["usage"]["total_tokens"] == 13);
    }

    TEST_CASE("tool calls replay as one delta each, with index, id, type, name and the whole arguments")
    {
        const auto chunks = replay_chunks(completion_tools());
        std::vector<json> calls;
        for (const auto& c : chunks) {
            if (!c["choices"].empty() && c["choices"][0]["delta"].contains("tool_calls")) {
                calls.push_back(c["choices"][0]["delta"]["tool_calls"][0]);
            }
        }
        REQUIRE(calls.size() == 2);
        CHECK(calls[0]["index"] == 0);
        CHECK(calls[0]["id"] == "call_a");
        CHECK(calls[0]["type"] == "function");
        CHECK(calls[0]["function"]["name"] == "get_weather");
        CHECK(calls[0]["function"]["arguments"] == "{\"city\":\"Paris\"}");
        CHECK(calls[1]["index"] == 1);
        CHECK(calls[1]["id"] == "call_b");
        CHECK(chunks[chunks.size() - 2]["choices"][0]["finish_reason"] == "tool_calls");
    }

    TEST_CASE("assembling the replayed chunks gives the completion back")
    {
        for (const json& original : {completion_text(), completion_tools()}) {
            auto back = assemble_completion(replay_chunks(original));
            REQUIRE(back.has_value());
            CHECK((*back)["id"] == original["id"]);
            CHECK((*back)["usage"] == original["usage"]);
            CHECK((*back)["choices"][0]["finish_reason"] == original["choices"][0]["finish_reason"]);
            CHECK((*back)["choices"][0]["message"]["content"] == original["choices"][0]["message"]["content"]);
            CHECK((*back)["choices"][0]["message"].value("tool_calls", json()) ==
                  original["choices"][0]["message"].value("tool_calls", json()));
        }
    }

    TEST_CASE("a mock stream assembles into the mock's non-stream answer")
    {
        namespace mock = aigw::daemon::providers::mock;
        const json req = {{"model", "mock/echo"},
                          {"messages", json::array({{{"role", "user"}, {"content", "one two three"}}})}};
        auto whole = mock::complete(req, "echo", "r1", 100).body;
        auto back = assemble_completion(mock::stream_chunks(req, "echo", "r1", 100));
        REQUIRE(back.has_value());
        CHECK((*back)["choices"][0]["message"]["content"] == whole["choices"][0]["message"]["content"]);
        CHECK((*back)["usage"] == whole["usage"]);
        CHECK((*back)["id"] == whole["id"]);
    }

    TEST_CASE("tool-call pieces are merged by index, and a stream without finish_reason is not complete")
    {
        std::vector<json> chunks = {
            {{"id", "x"},
             {"choices", json::array({{{"index", 0}, {"delta", {{"role", "assistant"}, {"content", ""}}}}})}},
            {{"id", "x"},
             {"choices",
              json::array(
                  {{{"index", 0},
                    {"delta",
                     {{"tool_calls", json::array({{{"index", 0},
                                                   {"id", "c1"},
                                                   {"type", "function"},
                                                   {"function", {{"name", "f"}, {"arguments", "{\"a\""}}}}})}}}}})}},
            {{"id", "x"},
             {"choices", json::array({{{"index", 0},
                                       {"delta",
                                        {{"tool_calls",
                                          json::array({{{"index", 0}, {"function", {{"arguments", ":1}"}}}}})}}}}})}},
        };
        CHECK_FALSE(assemble_completion(chunks).has_value());
        chunks.push_back(
            {{"id", "x"},
             {"choices", json::array({{{"index", 0}, {"delta", json::object()}, {"finish_reason", "tool_calls"}}})}});
        auto done = assemble_completion(chunks);
        REQUIRE(done.has_value());
        const auto& msg = (*done)["choices"][0]["message"];
        CHECK(msg["content"].is_null());
        CHECK(msg["tool_calls"][0]["id"] == "c1");
        CHECK(msg["tool_calls"][0]["function"]["arguments"] == "{\"a\":1}");
        CHECK_FALSE(assemble_completion({}).has_value());
    }
}

TEST_SUITE("semantic index")
{
    TEST_CASE("the closest vector above the threshold matches; below it nothing does")
    {
        SemanticIndex idx;
        idx.add("p", "north", {0, 1});
        idx.add("p", "east", {1, 0});
        const float q[] = {0.1f, 0.9f};
        auto m = idx.best_match("p", q, 0.9);
        REQUIRE(m.has_value());
        CHECK(m->key == "north");
        CHECK(m->similarity == doctest::Approx(0.9939).epsilon(0.001));
        const float diagonal[] = {1, 1};
        CHECK_FALSE(idx.best_match("p", diagonal, 0.8).has_value());  // 0.707 to both
    }

    TEST_CASE("vectors never match across partitions or dimensions")
    {
        SemanticIndex idx;
        idx.add("model-a", "k", {1, 0, 0});
        const float same[] = {1, 0, 0};
        CHECK_FALSE(idx.best_match("model-b", same, 0.5).has_value());
        const float shorter[] = {1, 0};
        CHECK_FALSE(idx.best_match("model-a", shorter, 0.5).has_value());
        CHECK(idx.best_match("model-a", same, 0.5).has_value());
    }

    TEST_CASE("over the cap the oldest vector goes; remove and zero vectors")
    {
        SemanticIndex idx(2);
        std::vector<std::string> dropped;
        idx.add("p", "a", {1, 0});
        idx.add("p", "b", {0, 1});
        idx.add("p", "c", {1, 1}, &dropped);
        CHECK(dropped == std::vector<std::string>{"a"});
        CHECK(idx.size() == 2);
        CHECK_FALSE(idx.contains("a"));
        idx.remove("b");
        CHECK(idx.size() == 1);
        CHECK_FALSE(idx.add("p", "zero", {0, 0}));
        CHECK_FALSE(idx.contains("zero"));
    }

    TEST_CASE("mock embeddings put rewordings of a question together and other questions apart")
    {
        namespace mock = aigw::daemon::providers::mock;
        auto cosine = [](const std::string& a, const std::string& b) {
            auto va = mock::text_vector(a);
            auto vb = mock::text_vector(b);
            double dot = 0;
            for (std::size_t i = 0; i < va.size(); ++i) {
                dot += va[i] * vb[i];
            }
            return dot;
        };
        CHECK(mock::text_vector("x").size() == 64);
        CHECK(cosine("What is the capital of France?", "what's the capital of france") > 0.99);
        CHECK(cosine("What is the capital of France?", "What is the capital of Germany?") < 0.8);
        CHECK(cosine("What is the capital of France?", "Write a haiku about autumn leaves") < 0.5);
        CHECK(cosine("same text", "same text") == doctest::Approx(1.0));
    }

    TEST_CASE("a semantic lookup finds the entry a similar prompt stored, within its partition")
    {
        FakeClock clock;
        auto c = memory_cache(clock);
        namespace mock = aigw::daemon::providers::mock;
        auto vec = [](const std::string& text) {
            auto d = mock::text_vector(text);
            return std::vector<float>(d.begin(), d.end());
        };
        c->store(answer("france"), std::nullopt, SemanticVector{"p1", vec("What is the capital of France?")});
        const auto q = vec("what's the capital of france");
        auto hit = c->lookup_semantic("p1", q, 0.92);
        REQUIRE(hit.has_value());
        CHECK(hit->answer->key == "france");
        REQUIRE(hit->similarity.has_value());
        CHECK(*hit->similarity > 0.92);
        CHECK(c->stats().semantic_hits == 1);
        CHECK_FALSE(c->lookup_semantic("p2", q, 0.92).has_value());
        CHECK_FALSE(c->lookup_semantic("p1", vec("What is the capital of Germany?"), 0.92).has_value());
        clock.advance_s(61);  // the vector goes with its expired entry
        CHECK_FALSE(c->lookup_semantic("p1", q, 0.92).has_value());
        CHECK(c->stats().semantic_entries == 0);
    }
}

TEST_SUITE("cache plan")
{
    using aigw::daemon::pipeline::plan_cache;

    TEST_CASE("off by default; x-aigw-cache on or semantic opts a request in")
    {
        aigw::config::Config cfg;
        cfg.cache.embedding_model = "mock/embed";
        auto p = plan_cache(cfg, "openai/gpt-4o", "", "", "");
        REQUIRE(p.has_value());
        CHECK_FALSE(p->lookup);
        CHECK_FALSE(p->store);
        p = plan_cache(cfg, "openai/gpt-4o", "on", "", "");
        CHECK((p->lookup && p->store && !p->semantic));
        p = plan_cache(cfg, "openai/gpt-4o", "Semantic", "", "");
        CHECK((p->lookup && p->store && p->semantic));
    }

    TEST_CASE("with the cache on, off and no-store bypass it, no-cache and refresh skip only the lookup")
    {
        aigw::config::Config cfg;
        cfg.cache.enabled = true;
        auto p = plan_cache(cfg, "m/x", "", "", "");
        CHECK((p->lookup && p->store));
        p = plan_cache(cfg, "m/x", "off", "", "");
        CHECK((!p->lookup && !p->store));
        p = plan_cache(cfg, "m/x", "", "no-store", "");
        CHECK((!p->lookup && !p->store));
        p = plan_cache(cfg, "m/x", "", "max-age=0, No-Cache", "");
        CHECK((!p->lookup && p->store));
        p = plan_cache(cfg, "m/x", "refresh", "", "");
        CHECK((!p->lookup && p->store));
    }

    TEST_CASE("x-aigw-cache-ttl sets the TTL and the oldest acceptable entry; bad values are 400s")
    {
        aigw::config::Config cfg;
        cfg.cache.enabled = true;
        auto p = plan_cache(cfg, "m/x", "", "", "30");
        REQUIRE(p.has_value());
        CHECK(p->ttl_s == 30);
        CHECK(p->max_age_s == 30);
        for (const char* bad : {"0", "-5", "1.5", "soon"}) {
            auto r = plan_cache(cfg, "m/x", "", "", bad);
            REQUIRE_FALSE(r.has_value());
            CHECK(r.error().status == 400);
            CHECK(r.error().message.find("x-aigw-cache-ttl") != std::string::npos);
        }
        auto r = plan_cache(cfg, "m/x", "sometimes", "", "");
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().message.find("on, exact, semantic, refresh or off") != std::string::npos);
    }

    TEST_CASE("a model's policy turns the cache on or off, sets its TTL and asks for semantic matching")
    {
        aigw::config::Config cfg;
        cfg.cache.embedding_model = "mock/embed";
        cfg.model_cache["openai/gpt-4o"] = {true, 120, true};
        cfg.model_cache["openai/o1"] = {false, std::nullopt, false};
        auto p = plan_cache(cfg, "openai/gpt-4o", "", "", "");
        CHECK((p->lookup && p->store && p->semantic));
        CHECK(p->ttl_s == 120);
        CHECK_FALSE(p->max_age_s.has_value());
        cfg.cache.enabled = true;
        p = plan_cache(cfg, "openai/o1", "", "", "");
        CHECK_FALSE(p->lookup);
        cfg.cache.embedding_model.clear();  // no embedding model: exact matching only
        p = plan_cache(cfg, "openai/gpt-4o", "semantic", "", "");
        CHECK((p->lookup && !p->semantic));
    }
}
