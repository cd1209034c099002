// Virtual keys and limits against a real aigwd: keys made with the CLI, rate limits that
// hold under parallel clients (exact counts), budgets refused before the call, revocation,
// model patterns, and no secret or key hash in any response, log or ledger.

#include "tests/integration/cluster_harness.hpp"
#include "tests/integration/harness.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <doctest/doctest.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

using aigw::test::cli_env;
using aigw::test::create_key;
using aigw::test::Daemon;
using aigw::test::DaemonOptions;
using aigw::test::FakeUpstream;
using aigw::test::long_body;
using aigw::test::run_command;
using nlohmann::json;

namespace {

const json k_hello = json::array({{{"role", "user"}, {"content", "hello limits"}}});

json chat_body(const std::string& model = "mock/echo")
{
    return {{"model", model}, {"messages", k_hello}};
}

json messages_body(const std::string& model = "mock/echo")
{
    return {{"model", model}, {"max_tokens", 20}, {"messages", k_hello}};
}

httplib::Result post_anthropic(const Daemon& d, const json& body, const std::string& key)
{
    httplib::Client c("127.0.0.1", d.port());
    c.set_read_timeout(30, 0);
    return c.Post("/v1/messages", {{"x-api-key", key}, {"anthropic-version", "2023-06-01"}}, body.dump(),
                  "application/json");
}

std::string file_text(const std::filesystem::path& p)
{
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

/// Fires `n` requests at once, each on its own connection (fire_concurrently); returns
/// their statuses, with every non-200 answer's body and Retry-After in `refusals`.
struct Outcome {
    int ok = 0;
    int limited = 0;
    int other = 0;
    std::vector<std::pair<std::string, std::string>> refusals;  ///< (Retry-After, body)
};
Outcome fire(int n, const std::function<httplib::Result(int)>& send)
{
    Outcome out;
    for (const auto& a : aigw::test::fire_concurrently(n, send)) {
        if (!a.answered) {
            ++out.other;
        } else if (a.status == 200) {
            ++out.ok;
        } else if (a.status == 429) {
            ++out.limited;
            out.refusals.emplace_back(a.retry_after, a.body);
        } else {
            ++out.other;
            out.refusals.emplace_back(std::to_string(a.status), a.body);
        }
    }
    return out;
}

}  // namespace

TEST_CASE("a key made with aigw keys create works on every model endpoint and is printed only once")
{
    Daemon d(nullptr);
    // Plain output: stdout is the key alone, so KEY=$(aigw keys create ...) works.
    auto plain =
        run_command({AIGW_PATH, "--data-dir", d.data_dir().string(), "keys", "create", "--name", "shell"}, cli_env(d));
    REQUIRE_MESSAGE(plain.exit_code == 0, plain.err);
    CHECK(plain.out.starts_with("aigw-vk-"));
    CHECK(plain.out.find('\n') == plain.out.size() - 1);
    CHECK(plain.err.find("only this once") != std::string::npos);

    auto key = create_key(d, {"--name", "ci"});
    CHECK(key.id.starts_with("vk_"));
    auto chat = d.post("/v1/chat/completions", chat_body(), key.secret);
    REQUIRE(chat);
    CHECK(chat->status == 200);
    auto msg = post_anthropic(d, messages_body(), key.secret);
    REQUIRE(msg);
    CHECK(msg->status == 200);
    auto emb = d.post("/v1/embeddings", {{"model", "mock/embed"}, {"input", "x"}}, key.secret);
    REQUIRE(emb);
    CHECK(emb->status == 200);
    auto models = d.get("/v1/models", key.secret);
    REQUIRE(models);
    CHECK(models->status == 200);

    // The ledger carries the key's id for its requests.
    REQUIRE(d.stop() == 0);
    SQLite::Database db((d.data_dir() / "ledger.db").string(), SQLite::OPEN_READONLY);
    SQLite::Statement q(db, "SELECT COUNT(*) FROM requests WHERE key_id = ?");
    q.bind(1, key.id);
    REQUIRE(q.executeStep());
    CHECK(q.getColumn(0).getInt() == 3);
}

TEST_CASE("virtual keys may not use the admin API: 403, while the gateway key still can")
{
    Daemon d(nullptr);
    auto key = create_key(d, {"--name", "ci"});
    for (const std::string path : {"/aigw/v1/cost", "/aigw/v1/status", "/aigw/v1/keys", "/aigw/v1/logs"}) {
        auto r = d.get(path, key.secret);
        REQUIRE(r);
        CHECK_MESSAGE(r->status == 403, path);
        CHECK(json::parse(r->body)["error"]["message"].get<std::string>().find("admin API") != std::string::npos);
    }
    auto create = d.post("/aigw/v1/keys", {{"name", "escalated"}}, key.secret);
    REQUIRE(create);
    CHECK(create->status == 403);
    auto admin = d.get("/aigw/v1/keys");
    REQUIRE(admin);
    CHECK(admin->status == 200);
    CHECK(json::parse(admin->body)["keys"].size() == 1);
}

TEST_CASE("N parallel clients on a key with rpm 5 get exactly 5 answers and 429s with Retry-After for the rest")
{
    Daemon d(nullptr);
    auto key = create_key(d, {"--name", "burst", "--rpm", "5"});
    auto out = fire(20, [&](int) { return d.post("/v1/chat/completions", chat_body(), key.secret); });
    CHECK(out.ok == 5);
    CHECK(out.limited == 15);
    CHECK(out.other == 0);
    for (const auto& [retry_after, body] : out.refusals) {
        CHECK(std::stoi(retry_after) >= 1);
        CHECK(std::stoi(retry_after) <= 12);  // one request every 12 s
        auto err = json::parse(body)["error"];
        CHECK(err["type"] == "rate_limit_error");
        CHECK(err["message"].get<std::string>().find("'burst'") != std::string::npos);
    }
}

TEST_CASE("the Anthropic surface enforces the key's rpm too, with Anthropic's error shape")
{
    Daemon d(nullptr);
    auto key = create_key(d, {"--name", "claude-code", "--rpm", "3"});
    auto out = fire(10, [&](int) { return post_anthropic(d, messages_body(), key.secret); });
    CHECK(out.ok == 3);
    CHECK(out.limited == 7);
    for (const auto& [retry_after, body] : out.refusals) {
        CHECK_FALSE(retry_after.empty());
        auto j = json::parse(body);
        CHECK(j["type"] == "error");
        CHECK(j["error"]["type"] == "rate_limit_error");
    }
}

TEST_CASE("a per-model rpm from the config holds across both surfaces and every key, the gateway key included")
{
    DaemonOptions opts;
    opts.config_toml = "[models.\"mock/echo\"]\nrpm = 4\n";
    Daemon d(nullptr, opts);
    auto key = create_key(d, {"--name", "ci"});
    auto out = fire(16, [&](int i) {
        switch (i % 3) {
            case 0:
                return d.post("/v1/chat/completions", chat_body(), key.secret);
            case 1:
                return post_anthropic(d, messages_body(), "test-gateway-key");
            default:
                return d.post("/v1/chat/completions", chat_body());
        }
    });
    CHECK(out.ok == 4);
    CHECK(out.limited == 12);
    // Another model is not held to mock/echo's limit.
    auto other = d.post("/v1/chat/completions", chat_body("mock/other"));
    REQUIRE(other);
    CHECK(other->status == 200);
}

TEST_CASE("tokens per minute are admitted on the estimate and given back from the real usage")
{
    Daemon d(nullptr);
    auto key = create_key(d, {"--name", "tokens", "--tpm", "1000"});
    // mock/slow streams a word every 25 ms: the first request is in flight for about a second.
    std::string words;
    for (int i = 0; i < 40; ++i) {
        words += "w" + std::to_string(i) + " ";
    }
    const json slow = {{"model", "mock/slow"},
                       {"stream", true},
                       {"max_tokens", 600},
                       {"messages", json::array({{{"role", "user"}, {"content", words}}})}};
    std::atomic<int> first_status{0};
    std::thread first([&] {
        auto r = d.post("/v1/chat/completions", slow, key.secret);
        first_status = r ? r->status : -1;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    auto second = d.post("/v1/chat/completions", slow, key.secret);  // 600 + prompt does not fit next to the first
    first.join();
    REQUIRE(second);
    CHECK(first_status == 200);
    CHECK(second->status == 429);
    CHECK(json::parse(second->body)["error"]["message"].get<std::string>().find("1000 tokens per minute") !=
          std::string::npos);
    // The first used far fewer tokens than reserved; what it did not use came back once its
    // row was recorded (just after its last byte reached the client): wait for the row.
    for (int i = 0; i < 100; ++i) {
        auto logs = d.get("/aigw/v1/logs?limit=10");
        if (logs && logs->status == 200 && logs->body.find("\"status\":200") != std::string::npos) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    auto third = d.post("/v1/chat/completions", slow, key.secret);
    REQUIRE(third);
    CHECK(third->status == 200);
}

TEST_CASE("a key's daily budget refuses a request whose estimated cost would pass it, on both surfaces")
{
    FakeUpstream up;
    Daemon d(&up);
    auto key = create_key(d, {"--name", "tight", "--budget", "0.0005/day"});
    auto first = d.post("/v1/chat/completions", long_body(), key.secret);
    REQUIRE(first);
    REQUIRE(first->status == 200);
    CHECK(std::stod(first->get_header_value("x-aigw-cost-usd")) > 0.0002);

    auto second = d.post("/v1/chat/completions", long_body(), key.secret);
    REQUIRE(second);
    CHECK(second->status == 402);
    auto err = json::parse(second->body)["error"];
    CHECK(err["code"] == "budget_exceeded");
    const auto message = err["message"].get<std::string>();
    CHECK(message.find("'tight'") != std::string::npos);
    CHECK(message.find("daily budget") != std::string::npos);
    CHECK(message.find("00:00 UTC") != std::string::npos);
    auto anthropic = post_anthropic(d, long_body(), key.secret);
    REQUIRE(anthropic);
    CHECK(anthropic->status == 402);
    CHECK(json::parse(anthropic->body)["error"]["type"] == "billing_error");
    // Refused before the call: the upstream saw only the first request.
    int upstream_chats = 0;
    for (const auto& r : up.requests()) {
        upstream_chats += r["path"].get<std::string>().find("/chat/completions") != std::string::npos ? 1 : 0;
    }
    CHECK(upstream_chats == 1);
    // The gateway key has no such budget.
    auto admin = d.post("/v1/chat/completions", long_body());
    REQUIRE(admin);
    CHECK(admin->status == 200);

    auto show =
        run_command({AIGW_PATH, "--data-dir", d.data_dir().string(), "keys", "show", "tight", "--json"}, cli_env(d));
    REQUIRE(show.exit_code == 0);
    CHECK(json::parse(show.out)["spent_day_usd"].get<double>() > 0.0002);
}

TEST_CASE("the overall budget from the config refuses every key once the next estimate would pass it, and alerts once")
{
    FakeUpstream up;
    DaemonOptions opts;
    opts.config_toml = "[budget]\ndaily_usd = 0.0005\nalert_at = 0.5\n";
    Daemon d(&up, opts);
    auto key = create_key(d, {"--name", "ci"});
    auto first = d.post("/v1/chat/completions", long_body());
    REQUIRE(first);
    REQUIRE(first->status == 200);
    for (const std::string& k : {std::string("test-gateway-key"), key.secret}) {
        auto r = d.post("/v1/chat/completions", long_body(), k);
        REQUIRE(r);
        CHECK(r->status == 402);
        CHECK(json::parse(r->body)["error"]["message"].get<std::string>().find("daily_usd") != std::string::npos);
    }
    REQUIRE(d.stop() == 0);
    const auto log = file_text(d.log_file());
    // Spend stops short of the budget (the next estimate would pass it), past alert_at: one alert.
    CHECK(log.find("budget alert: the gateway") != std::string::npos);
    CHECK(log.find("budget alert", log.find("budget alert") + 1) == std::string::npos);  // once per day
}

TEST_CASE("a revoked key gets 401 on both surfaces, with a message that says it was revoked")
{
    Daemon d(nullptr);
    auto key = create_key(d, {"--name", "leaver"});
    auto before = d.post("/v1/chat/completions", chat_body(), key.secret);
    REQUIRE(before);
    CHECK(before->status == 200);
    auto revoke = run_command({AIGW_PATH, "--data-dir", d.data_dir().string(), "keys", "revoke", "leaver"}, cli_env(d));
    REQUIRE_MESSAGE(revoke.exit_code == 0, revoke.err);
    CHECK(revoke.out.find(key.id) != std::string::npos);

    auto chat = d.post("/v1/chat/completions", chat_body(), key.secret);
    REQUIRE(chat);
    CHECK(chat->status == 401);
    CHECK(json::parse(chat->body)["error"]["message"].get<std::string>().find("revoked") != std::string::npos);
    auto msg = post_anthropic(d, messages_body(), key.secret);
    REQUIRE(msg);
    CHECK(msg->status == 401);
    CHECK(json::parse(msg->body)["error"]["type"] == "authentication_error");
    auto models = d.get("/v1/models", key.secret);
    REQUIRE(models);
    CHECK(models->status == 401);

    auto list = run_command({AIGW_PATH, "--data-dir", d.data_dir().string(), "keys", "list"}, cli_env(d));
    CHECK(list.exit_code == 0);
    CHECK(list.out.find("revoked") != std::string::npos);
    auto unknown =
        run_command({AIGW_PATH, "--data-dir", d.data_dir().string(), "keys", "revoke", "nobody"}, cli_env(d));
    CHECK(unknown.exit_code == 1);
    CHECK(unknown.err.find("keys list") != std::string::npos);
}

TEST_CASE("a key limited to model patterns gets 403 naming them, and /v1/models lists only what it may use")
{
    Daemon d(nullptr);
    auto key = create_key(d, {"--name", "echo-only", "--models", "mock/echo*", "mock/other"});
    auto ok = d.post("/v1/chat/completions", chat_body("mock/echo"), key.secret);
    REQUIRE(ok);
    CHECK(ok->status == 200);
    auto denied = d.post("/v1/chat/completions", chat_body("mock/secret"), key.secret);
    REQUIRE(denied);
    CHECK(denied->status == 403);
    auto err = json::parse(denied->body)["error"];
    CHECK(err["code"] == "permission_denied");
    CHECK(err["message"].get<std::string>().find("mock/echo*, mock/other") != std::string::npos);
    auto anthropic = post_anthropic(d, messages_body("mock/secret"), key.secret);
    REQUIRE(anthropic);
    CHECK(anthropic->status == 403);
    CHECK(json::parse(anthropic->body)["error"]["type"] == "permission_error");

    auto models = d.get("/v1/models", key.secret);
    REQUIRE(models);
    auto data = json::parse(models->body)["data"];
    REQUIRE(data.size() == 1);
    CHECK(data[0]["id"] == "mock/echo");
}

TEST_CASE("aigw cost --by key names the keys and shows hits and savings")
{
    Daemon d(nullptr);
    auto key = create_key(d, {"--name", "reporting"});
    for (int i = 0; i < 2; ++i) {
        auto r = d.post("/v1/chat/completions", chat_body(), key.secret);
        REQUIRE(r);
    }
    auto r = run_command({AIGW_PATH, "--data-dir", d.data_dir().string(), "cost", "--by", "key"}, cli_env(d));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(r.out.find("HITS") != std::string::npos);
    CHECK(r.out.find("SAVED USD") != std::string::npos);
    std::istringstream lines(r.out);
    std::string line;
    bool found = false;
    while (std::getline(lines, line)) {
        if (line.starts_with(key.id)) {
            found = true;
            CHECK(line.find("reporting") != std::string::npos);
        }
    }
    CHECK(found);
    auto j = run_command({AIGW_PATH, "--data-dir", d.data_dir().string(), "cost", "--by", "key", "--json"}, cli_env(d));
    REQUIRE(j.exit_code == 0);
    auto groups = json::parse(j.out)["groups"];
    REQUIRE(groups.size() == 1);
    CHECK(groups[0]["name"] == "reporting");
    CHECK(groups[0]["requests"] == 2);
    CHECK(groups[0].contains("saved_usd"));
}

TEST_CASE("no virtual key secret or key hash appears in responses, the CLI's reports, logs or the ledger")
{
    FakeUpstream up;
    DaemonOptions opts;
    opts.config_toml = "[ledger]\nlog_bodies = true\n[budget]\ndaily_usd = 1000\nalert_at = 0.0000001\n";
    Daemon d(&up, opts);
    auto env = cli_env(d);
    const auto dir = d.data_dir().string();
    auto key =
        create_key(d, {"--name", "secretive", "--rpm", "3", "--budget", "5/day", "--models", "openai/*", "mock/*"});
    std::string seen;  // everything a client or an admin could read
    auto keep = [&](const httplib::Result& r) {
        REQUIRE(r);
        seen += r->body;
        for (const auto& [k, v] : r->headers) {
            seen += k + ": " + v + "\n";
        }
    };
    keep(d.post("/v1/chat/completions", chat_body("openai/gpt-4o-mini"), key.secret));
    keep(d.post("/v1/chat/completions", {{"model", "openai/gpt-4o-mini"}, {"stream", true}, {"messages", k_hello}},
                key.secret));
    keep(post_anthropic(d, messages_body("mock/echo"), key.secret));
    keep(d.post("/v1/chat/completions", chat_body("mock/echo"), key.secret));                   // 429
    keep(d.post("/v1/chat/completions", chat_body("anthropic/claude-haiku-4-5"), key.secret));  // 403
    keep(d.get("/aigw/v1/cost", key.secret));                                                   // 403
    keep(d.get("/aigw/v1/keys"));
    keep(d.get("/aigw/v1/keys/secretive"));
    keep(d.get("/aigw/v1/logs?limit=100"));
    keep(d.get("/aigw/v1/cost?by=key"));
    for (const std::vector<std::string>& args : {std::vector<std::string>{"keys", "list"},
                                                 {"keys", "list", "--json"},
                                                 {"keys", "show", "secretive"},
                                                 {"keys", "show", "secretive", "--json"},
                                                 {"cost", "--by", "key", "--json"},
                                                 {"keys", "revoke", "secretive", "--json"}}) {
        std::vector<std::string> argv = {AIGW_PATH, "--data-dir", dir};
        argv.insert(argv.end(), args.begin(), args.end());
        auto r = run_command(argv, env);
        CHECK_MESSAGE(r.exit_code == 0, r.err);
        seen += r.out + r.err;
    }
    keep(d.post("/v1/chat/completions", chat_body("mock/echo"), key.secret));  // 401 revoked
    REQUIRE(d.stop() == 0);

    SQLite::Database keys_db((d.data_dir() / "keys.db").string(), SQLite::OPEN_READONLY);
    const std::string hash =
        keys_db.execAndGet("SELECT key_hash FROM virtual_keys WHERE name = 'secretive'").getString();
    REQUIRE(hash.size() == 64);
    const std::string random_part = key.secret.substr(std::string("aigw-vk-").size());
    std::string stored;
    for (const char* f : {"ledger.db", "ledger.db-wal", "aigwd.stderr", "keys.db", "keys.db-journal", "keys.db-wal"}) {
        stored += file_text(d.data_dir() / f);
    }
    const std::string log = file_text(d.log_file());
    CHECK(log.find("budget alert") != std::string::npos);  // the alert was logged, naming the key...
    CHECK(log.find(key.id) != std::string::npos);
    for (const std::string& needle : {key.secret, random_part}) {  // ...but never its secret
        CHECK(seen.find(needle) == std::string::npos);
        CHECK(stored.find(needle) == std::string::npos);
    }
    CHECK(seen.find(hash) == std::string::npos);
    CHECK(log.find(hash) == std::string::npos);
    CHECK(file_text(d.data_dir() / "ledger.db").find(hash) == std::string::npos);
    CHECK(file_text(d.data_dir() / "ledger.db-wal").find(hash) == std::string::npos);
    // Only the hash is kept, in a file only its owner can read.
    CHECK((std::filesystem::status(d.data_dir() / "keys.db").permissions() &
           (std::filesystem::perms::group_all | std::filesystem::perms::others_all)) == std::filesystem::perms::none);
}
