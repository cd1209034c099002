// Bodies stored once per distinct prompt prefix (body_chain.hpp) and full-text search over
// them: the pure split/join/hash functions, then the ledger on a real SQLite file.

#include "daemon/ledger/body_chain.hpp"
#include "daemon/ledger/latency_hist.hpp"
#include "daemon/ledger/ledger.hpp"
#include "daemon/ledger/migrations.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using aigw::daemon::ledger::EntryFilter;
using aigw::daemon::ledger::join_body;
using aigw::daemon::ledger::Ledger;
using aigw::daemon::ledger::LedgerRow;
using aigw::daemon::ledger::node_hash;
using aigw::daemon::ledger::NodeHash;
using aigw::daemon::ledger::searchable_text;
using aigw::daemon::ledger::split_body;
using nlohmann::json;
using ordered = nlohmann::ordered_json;

namespace {

constexpr std::int64_t k_day_ms = 86'400'000;

std::int64_t now_ms()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// A fresh directory, removed at the end unless a check failed (then its path is printed).
class BodiesDir {
public:
    BodiesDir()
    {
        std::string pattern = (fs::temp_directory_path() / "aigw-bodies-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        m_path = pattern;
    }
    ~BodiesDir()
    {
        if (std::uncaught_exceptions() > 0) {
            MESSAGE("kept test dir " << m_path.string());
            return;
        }
        std::error_code ignored;
        fs::remove_all(m_path, ignored);
    }
    BodiesDir(const BodiesDir&) = delete;
    BodiesDir& operator=(const BodiesDir&) = delete;
    fs::path db() const { return m_path / "ledger.db"; }

private:
    fs::path m_path;
};

std::unique_ptr<Ledger> open_at(const fs::path& path, int retention_days = 0)
{
    auto ledger = Ledger::open(path, retention_days);
    if (!ledger) {
        FAIL("Ledger::open failed: " << ledger.error());
    }
    return std::move(*ledger);
}

std::int64_t count(const fs::path& db_path, const std::string& sql)
{
    SQLite::Database db(db_path, SQLite::OPEN_READONLY);
    return db.execAndGet(sql).getInt64();
}

LedgerRow body_row(std::int64_t ts_ms, const std::string& request_id, std::string request_body,
                   std::string response_body, const std::string& model = "openai/gpt-4o-mini")
{
    LedgerRow row;
    row.ts_ms = ts_ms;
    row.request_id = request_id;
    row.key_id = "default";
    row.surface = "openai.chat";
    row.requested_model = model;
    row.served_model = model;
    row.provider = model.substr(0, model.find('/'));
    row.status = 200;
    row.request_body = std::move(request_body);
    row.response_body = std::move(response_body);
    return row;
}

std::string id_of(const char* prefix, int i)
{
    std::string id = prefix;
    id += std::to_string(i);
    return id;
}

/// The body of turn `turns` (1-based) of a chat about `topic`: system, then user/assistant
/// pairs, ending with the user's message of that turn.
ordered chat_turn(const std::string& topic, int turns)
{
    ordered messages = ordered::array();
    messages.push_back({{"role", "system"}, {"content", "You answer questions about " + topic + "."}});
    for (int t = 1; t <= turns; ++t) {
        messages.push_back({{"role", "user"}, {"content", "question " + std::to_string(t) + " about " + topic}});
        if (t < turns) {
            messages.push_back({{"role", "assistant"}, {"content", "answer " + std::to_string(t) + " on " + topic}});
        }
    }
    return ordered{{"model", "gpt-4o-mini"}, {"messages", std::move(messages)}, {"temperature", 0.25}};
}

std::vector<LedgerRow> final_rows(Ledger& ledger)
{
    auto rows = ledger.recent(0);
    REQUIRE(rows.has_value());
    return std::vector<LedgerRow>(rows->rbegin(), rows->rend());  // oldest first
}

std::vector<std::string> hit_ids(const std::vector<aigw::daemon::ledger::SearchHit>& hits)
{
    std::vector<std::string> ids;
    for (const auto& h : hits) {
        ids.push_back(h.entry.row.request_id);
    }
    return ids;
}

/// Whether a JSON parser's reading of `body` has a conversation split_body() should take:
/// an object with a non-empty array of objects under messages, contents or input.
bool parser_sees_conversation(const std::string& body)
{
    const auto j = ordered::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        return false;
    }
    for (const char* key : {"messages", "contents", "input"}) {
        const auto it = j.find(key);
        if (it != j.end() && it->is_array() && !it->empty() &&
            std::all_of(it->begin(), it->end(), [](const ordered& e) { return e.is_object(); })) {
            return true;
        }
    }
    return false;
}

}  // namespace

TEST_CASE("every surface's conversation is split into items and joined back to the same body")
{
    const std::vector<std::pair<std::string, std::string>> bodies{
        {"messages",
         R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}],"stream":true})"},
        {"system+messages",
         R"({"model":"claude-sonnet-4-5","max_tokens":100,"system":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"tools":[{"name":"f","input_schema":{"type":"object"}}]})"},
        {"systemInstruction+contents",
         R"({"contents":[{"role":"user","parts":[{"text":"hi"}]},{"role":"model","parts":[{"text":"yo"}]}],"systemInstruction":{"parts":[{"text":"Be brief."}]},"generationConfig":{"temperature":0.5}})"},
        {"instructions+input",
         R"({"model":"gpt-5","instructions":"Be brief.","input":[{"role":"user","content":[{"type":"input_text","text":"hi"}]},{"type":"function_call_output","call_id":"c1","output":"42"}]})"},
    };
    for (const auto& [layout, body] : bodies) {
        CAPTURE(body);
        const auto split = split_body(body);
        CHECK(split.layout == layout);
        CHECK(split.items.size() >= 2);
        CHECK(split.rest.find("hi") == std::string::npos);  // the conversation is not in the rest
        auto joined = join_body(split.rest, split.layout, split.items);
        REQUIRE(joined.has_value());
        CHECK(*joined == body);  // compact JSON comes back byte for byte
    }

    // Pretty-printed JSON comes back equal as JSON (key order kept), not byte for byte.
    const std::string pretty = ordered::parse(bodies[1].second).dump(2);
    const auto split = split_body(pretty);
    REQUIRE(split.layout == "system+messages");
    auto joined = join_body(split.rest, split.layout, split.items);
    REQUIRE(joined.has_value());
    CHECK(ordered::parse(*joined) == ordered::parse(pretty));
    CHECK(*joined == bodies[1].second);
}

TEST_CASE("split_body takes the items as the client wrote them: hashed and stored without re-serialising")
{
    // Spaces as Python's json.dumps writes them: kept, so each turn hashes the same bytes.
    const std::string body = R"({"model": "gpt-4o", "messages": [ {"role": "user", "content": "caf\u00e9"}, )"
                             R"({"role": "assistant", "content": [1, 2.5e3, true, null]} ], "n": 1})";
    const auto split = split_body(body);
    REQUIRE(split.layout == "messages");
    REQUIRE(split.items.size() == 2);
    CHECK(split.items[0] == R"({"role": "user", "content": "caf\u00e9"})");
    CHECK(split.items[1] == R"({"role": "assistant", "content": [1, 2.5e3, true, null]})");
    CHECK(split.rest == R"({"model": "gpt-4o", "messages": 0, "n": 1})");
    auto joined = join_body(split.rest, split.layout, split.items);
    REQUIRE(joined.has_value());
    CHECK(ordered::parse(*joined) == ordered::parse(body));

    // A key written with an escape, or given twice, is read as a JSON parser reads it.
    const auto escaped = split_body(R"({"mess\u0061ges":[{"role":"user","content":"hi"}]})");
    CHECK(escaped.layout == "messages");
    CHECK(escaped.items == std::vector<std::string>{R"({"role":"user","content":"hi"})"});
    const auto twice = split_body(R"({"messages":[{"a":1}],"messages":[{"b":2}]})");
    REQUIRE(twice.layout == "messages");
    CHECK(twice.items == std::vector<std::string>{R"({"b":2})"});  // the last one, as nlohmann keeps it

    // Nesting deep enough to exhaust a recursive parser's stack is only "not a conversation".
    CHECK(split_body(R"({"messages":[{"a":)" + std::string(200'000, '[') + "}]}").layout.empty());
    CHECK(split_body(std::string(200'000, '[') + std::string(200'000, ']')).layout.empty());
}

TEST_CASE("split_body agrees with a JSON parser on thousands of damaged bodies")
{
    const std::vector<std::string> seeds{
        R"({"model":"gpt-4o","messages":[{"role":"system","content":"Be \"brief\".\n"},{"role":"user","content":"h\u00e9 \ud83d\ude00 é 😀"}],"temperature":0.5,"stop":["\\"]})",
        ordered::parse(
            R"({"system":[{"type":"text","text":"S"}],"messages":[{"role":"user","content":[{"type":"text","text":"x"}]},{"role":"assistant","content":"y"}],"max_tokens":-1.5E-3})")
            .dump(2),
        R"( { "contents" : [ { "role" : "user" , "parts" : [ { "text" : "q" } ] } ] , "systemInstruction" : null , "system_instruction" : { "parts" : [ ] } } )",
        R"({"input":[{"type":"message","role":"user","content":"1"},{"type":"function_call_output","call_id":"c","output":"{}"}],"instructions":"I"})",
    };
    // Bytes that break JSON in interesting ways: structure, quotes, escapes, invalid UTF-8.
    const std::vector<std::string> inserts{"\"",   "\\",      "{",        "}",
                                           "[",    "]",       ",",        ":",
                                           "0",    "-",       "e",        " ",
                                           "\xff", "\xc3",    "\xe2\x82", "\xed\xa0\x80",
                                           "\\u",  "\\ud800", "\\udc00",  std::string(1, '\0'),
                                           "\x01", "n",       "tru"};
    std::uint64_t state = 12345;
    auto next = [&](std::uint64_t n) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return (state >> 33) % n;
    };
    int conversations = 0;
    int stored_whole = 0;
    for (int round = 0; round < 4000; ++round) {
        std::string body = seeds[static_cast<std::size_t>(round) % seeds.size()];
        const int edits = 1 + static_cast<int>(next(3));
        for (int e = 0; e < edits && round >= static_cast<int>(seeds.size()); ++e) {
            const std::size_t at = next(body.size() + 1);
            switch (next(3)) {
                case 0:
                    if (at < body.size()) {
                        body.erase(at, 1);
                    }
                    break;
                case 1:
                    body.insert(at, inserts[next(inserts.size())]);
                    break;
                default:
                    if (at < body.size()) {
                        body[at] = inserts[next(inserts.size())][0];
                    }
            }
        }
        CAPTURE(body);
        const auto split = split_body(body);
        const bool valid = ordered::accept(body);
        if (!valid) {
            CHECK(split.layout.empty());
            ++stored_whole;
            continue;
        }
        if (split.layout.empty()) {
            CHECK_FALSE(parser_sees_conversation(body));
            ++stored_whole;
            continue;
        }
        CHECK(parser_sees_conversation(body));
        ++conversations;
        // Every item is JSON by itself, and they join back to what the parser read.
        for (const auto& item : split.items) {
            CHECK(ordered::accept(item));
        }
        auto joined = join_body(split.rest, split.layout, split.items);
        REQUIRE(joined.has_value());
        CHECK(*joined == ordered::parse(body).dump());
    }
    // Both kinds happened often enough for the comparison to mean something.
    CHECK(conversations > 500);
    CHECK(stored_whole > 500);
}

TEST_CASE("a body that is not a conversation is stored whole")
{
    for (const std::string body :
         {R"({"model":"text-embedding-3-small","input":["a","b"]})",
          R"({"model":"gpt-3.5-turbo-instruct","prompt":"Say hi"})", R"({"model":"gpt-5","input":"just a string"})",
          R"({"messages":[]})", R"([{"role":"user"}])", "not json at all",
          R"({"messages":[{"role":"user","content":"\xff"}]})"}) {
        CAPTURE(body);
        CHECK(split_body(body).layout.empty());
    }
}

TEST_CASE("a node's hash covers its parent, so equal items after different histories are different nodes")
{
    const NodeHash root{};
    const NodeHash a = node_hash(root, R"({"role":"user","content":"hi"})");
    CHECK(a == node_hash(root, R"({"role":"user","content":"hi"})"));
    CHECK(a != node_hash(root, R"({"role":"user","content":"hi!"})"));
    const NodeHash b = node_hash(root, R"({"role":"user","content":"other"})");
    CHECK(node_hash(a, R"({"role":"user","content":"x"})") != node_hash(b, R"({"role":"user","content":"x"})"));
}

TEST_CASE("searchable text keeps the words and drops roles, ids and inline data")
{
    const std::string text = searchable_text(
        R"({"role":"user","content":[{"type":"text","text":"refund policy"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}],"tool_call_id":"call_123"})");
    CHECK(text == "refund policy");
    CHECK(searchable_text("plain answer text") == "plain answer text");
}

TEST_CASE("a 10-turn conversation stores each message once and every turn reads back as sent")
{
    BodiesDir dir;
    auto ledger = open_at(dir.db());
    const std::int64_t t0 = now_ms() - 60'000;
    std::vector<std::string> sent;
    for (int turn = 1; turn <= 10; ++turn) {
        sent.push_back(chat_turn("billing", turn).dump());
        ledger->record(body_row(t0 + turn, id_of("turn", turn), sent.back(), "answer " + std::to_string(turn)));
    }
    ledger->flush();
    // 1 system + 10 user + 9 assistant messages, each once; 10 request rows hold only the rest.
    CHECK(count(dir.db(), "SELECT COUNT(*) FROM body_nodes") == 20);
    CHECK(count(dir.db(), "SELECT COUNT(*) FROM request_bodies WHERE chain_node > 0") == 10);
    CHECK(count(dir.db(), "SELECT COUNT(*) FROM request_bodies WHERE request_body LIKE '%question%'") == 0);

    const auto rows = final_rows(*ledger);
    REQUIRE(rows.size() == 10);
    for (std::size_t i = 0; i < rows.size(); ++i) {
        CHECK(rows[i].request_body == sent[i]);
        CHECK(rows[i].response_body == "answer " + std::to_string(i + 1));
    }

    // A second conversation with the same system prompt shares that node only.
    ledger->record(body_row(t0 + 20, "other-1", chat_turn("billing", 1).dump(), "again"));
    ledger->flush();
    CHECK(count(dir.db(), "SELECT COUNT(*) FROM body_nodes") == 20);  // the same first turn: nothing new
    ordered changed = chat_turn("billing", 2);
    changed["messages"][2]["content"] = "a different answer";
    ledger->record(body_row(t0 + 21, "other-2", changed.dump(), ""));
    ledger->flush();
    CHECK(count(dir.db(), "SELECT COUNT(*) FROM body_nodes") == 22);  // its own answer and question 2
    auto entries = ledger->entries(EntryFilter{.limit = 1});
    REQUIRE(entries.has_value());
    REQUIRE(entries->size() == 1);
    CHECK(entries->front().row.request_body == changed.dump());
}

TEST_CASE("multi-turn Anthropic, Gemini and Responses bodies read back as sent")
{
    BodiesDir dir;
    auto ledger = open_at(dir.db());
    const std::int64_t t0 = now_ms() - 60'000;
    std::vector<std::string> sent;
    ordered anthropic{{"model", "claude-sonnet-4-5"},
                      {"max_tokens", 512},
                      {"system", "You are a refund agent."},
                      {"messages", ordered::array()}};
    ordered gemini{{"systemInstruction", {{"parts", ordered::array({{{"text", "Be kind."}}})}}},
                   {"contents", ordered::array()}};
    ordered responses{{"model", "gpt-5"}, {"instructions", "Be terse."}, {"input", ordered::array()}};
    for (int turn = 1; turn <= 3; ++turn) {
        const std::string q = "turn " + std::to_string(turn) + " question";
        anthropic["messages"].push_back(
            {{"role", "user"}, {"content", ordered::array({{{"type", "text"}, {"text", q}}})}});
        gemini["contents"].push_back({{"role", "user"}, {"parts", ordered::array({{{"text", q}}})}});
        responses["input"].push_back({{"role", "user"}, {"content", q}});
        for (const ordered* body : {&anthropic, &gemini, &responses}) {
            sent.push_back(body->dump(2));  // pretty, as some clients send it
            ledger->record(body_row(t0 + static_cast<std::int64_t>(sent.size()),
                                    id_of("b", static_cast<int>(sent.size())), sent.back(), "ok"));
        }
        anthropic["messages"].push_back({{"role", "assistant"}, {"content", "reply " + std::to_string(turn)}});
        gemini["contents"].push_back({{"role", "model"}, {"parts", ordered::array({{{"text", "r"}}})}});
        responses["input"].push_back({{"type", "function_call_output"}, {"call_id", "c"}, {"output", "42"}});
    }
    ledger->flush();
    // Per surface: system + 3 questions + 2 replies.
    CHECK(count(dir.db(), "SELECT COUNT(*) FROM body_nodes") == 3 * 6);
    const auto rows = final_rows(*ledger);
    REQUIRE(rows.size() == sent.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
        CAPTURE(sent[i]);
        CHECK(ordered::parse(rows[i].request_body) == ordered::parse(sent[i]));
    }
    // Export rebuilds them too.
    std::ostringstream out;
    auto written = ledger->export_rows(0, 0, aigw::daemon::ledger::ExportFormat::jsonl, out);
    REQUIRE(written.has_value());
    CHECK(*written == static_cast<std::int64_t>(sent.size()));
    std::istringstream lines(out.str());
    std::string line;
    std::getline(lines, line);
    const json first = json::parse(line);
    CHECK(json::parse(first["request_body"].get<std::string>()) == json::parse(sent[0]));
}

TEST_CASE("search finds requests by words in history and answers, with every filter")
{
    BodiesDir dir;
    auto ledger = open_at(dir.db());
    const std::int64_t now = now_ms();
    // Conversation A (3 turns): the refund question is asked in turn 1.
    ordered a = chat_turn("shipping", 1);
    a["messages"][1]["content"] = "What is your refund policy?";
    ledger->record(body_row(now - 3 * k_day_ms, "a1", a.dump(), "Refunds within 30 days."));
    a["messages"].push_back({{"role", "assistant"}, {"content", "Refunds within 30 days."}});
    a["messages"].push_back({{"role", "user"}, {"content", "And exchanges?"}});
    ledger->record(body_row(now - 2 * k_day_ms, "a2", a.dump(), "Exchanges too.", "anthropic/claude-sonnet-4-5"));
    a["messages"].push_back({{"role", "assistant"}, {"content", "Exchanges too."}});
    a["messages"].push_back({{"role", "user"}, {"content", "Thanks"}});
    LedgerRow a3 = body_row(now - 1000, "a3", a.dump(), "You are welcome.");
    a3.key_id = "team";
    ledger->record(a3);
    // Conversation B: an error, about something else.
    LedgerRow b = body_row(now - 500, "b1", chat_turn("weather", 1).dump(), "");
    b.status = 429;
    b.error = "rate limited";
    ledger->record(b);
    // A body stored whole (embeddings) is searchable too.
    ledger->record(body_row(now - 400, "e1", R"({"model":"text-embedding-3-small","input":["refund request form"]})",
                            "", "openai/text-embedding-3-small"));
    ledger->flush();

    auto search = [&](const std::string& q, EntryFilter f = {}) {
        auto hits = ledger->search(q, f);
        REQUIRE_MESSAGE(hits.has_value(), (hits ? std::string() : hits.error().message));
        return hit_ids(*hits);
    };
    // The history message maps to the request that first sent it, not to every later turn.
    CHECK(search("\"refund policy\"") == std::vector<std::string>{"a1"});
    CHECK(search("refund") == std::vector<std::string>{"e1", "a1"});  // newest first
    // An answer is found at the request that got it and at the turn that first sent it back.
    CHECK(search("exchanges") == std::vector<std::string>{"a3", "a2"});
    CHECK(search("welcome") == std::vector<std::string>{"a3"});
    CHECK(search("weather") == std::vector<std::string>{"b1"});
    CHECK(search("\"nothing like this\"").empty());
    CHECK(search("refund OR weather") == std::vector<std::string>{"e1", "b1", "a1"});

    CHECK(search("refund", EntryFilter{.model = "openai/text-embedding-3-small"}) == std::vector<std::string>{"e1"});
    CHECK(search("exchanges", EntryFilter{.model = "anthropic/claude-sonnet-4-5"}) == std::vector<std::string>{"a2"});
    CHECK(search("exchanges", EntryFilter{.model = "openai/gpt-4o-mini"}) == std::vector<std::string>{"a3"});
    CHECK(search("exchanges OR refund", EntryFilter{.key_id = "team"}) == std::vector<std::string>{"a3"});
    CHECK(search("shipping OR weather", EntryFilter{.status = 429}) == std::vector<std::string>{"b1"});
    CHECK(search("shipping OR weather", EntryFilter{.status_class = 4}) == std::vector<std::string>{"b1"});
    CHECK(search("shipping OR weather", EntryFilter{.errors_only = true}) == std::vector<std::string>{"b1"});
    CHECK(search("shipping OR weather", EntryFilter{.status_class = 2}) == std::vector<std::string>{"a1"});
    CHECK(search("shipping OR weather OR refund", EntryFilter{.since_ms = now - k_day_ms}) ==
          std::vector<std::string>{"e1", "b1"});
    CHECK(search("shipping OR weather OR refund", EntryFilter{.limit = 2}) == std::vector<std::string>{"e1", "b1"});

    auto hits = ledger->search("policy", {});
    REQUIRE(hits.has_value());
    REQUIRE(hits->size() == 1);
    CHECK(hits->front().snippet.find("[policy]") != std::string::npos);
    CHECK(hits->front().entry.row.request_body ==
          chat_turn("shipping", 1)
              .dump()
              .replace(chat_turn("shipping", 1).dump().find("question 1 about shipping"),
                       std::string("question 1 about shipping").size(), "What is your refund policy?"));

    for (const std::string bad : {"\"unterminated", "refund AND", "body: refund", "(refund", "e-mail"}) {
        CAPTURE(bad);
        auto result = ledger->search(bad, {});
        REQUIRE_FALSE(result.has_value());
        CHECK(result.error().bad_query);
        CHECK(result.error().message.find("not a valid search query") != std::string::npos);
    }
}

TEST_CASE("prune deletes nodes no kept request reaches and moves a shared node to its first kept request")
{
    BodiesDir dir;
    const std::int64_t now = now_ms();
    auto ledger = open_at(dir.db(), 30);
    // An old conversation continued recently: turn 1 is pruned, turn 2 keeps its nodes.
    ledger->record(body_row(now - 40 * k_day_ms, "old-1", chat_turn("returns", 1).dump(), "r1"));
    ledger->record(body_row(now - 1 * k_day_ms, "new-2", chat_turn("returns", 2).dump(), "r2"));
    // An old conversation nobody continued: all its nodes go.
    ledger->record(body_row(now - 40 * k_day_ms, "gone-1", chat_turn("zebras", 3).dump(), "z"));
    ledger->flush();
    CHECK(count(dir.db(), "SELECT COUNT(*) FROM body_nodes") == 4 + 6);
    CHECK(ledger->search("zebras", {})->size() == 1);

    ledger->prune(now);
    CHECK(count(dir.db(), "SELECT COUNT(*) FROM requests") == 1);
    CHECK(count(dir.db(), "SELECT COUNT(*) FROM body_nodes") == 4);
    CHECK(count(dir.db(), "SELECT COUNT(*) FROM node_fts") == 4);
    CHECK(count(dir.db(), "SELECT COUNT(*) FROM row_fts") == 1);
    CHECK(count(dir.db(), "SELECT COUNT(*) FROM body_nodes WHERE first_row_id NOT IN (SELECT id FROM requests)") == 0);
    CHECK(ledger->search("zebras", {})->empty());
    // The first question, stored by the pruned turn, now leads to the kept turn.
    CHECK(hit_ids(*ledger->search("\"question 1 about returns\"", {})) == std::vector<std::string>{"new-2"});
    const auto rows = final_rows(*ledger);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].request_body == chat_turn("returns", 2).dump());

    ledger->prune(now + 40 * k_day_ms);
    CHECK(count(dir.db(), "SELECT COUNT(*) FROM body_nodes") == 0);
    CHECK(count(dir.db(), "SELECT COUNT(*) FROM node_fts") == 0);
    auto vacuumed = ledger->vacuum();
    CHECK(vacuumed.has_value());
}

TEST_CASE("bodies written before the chain layout still read back and are searchable after the migration")
{
    BodiesDir dir;
    const std::string old_body = R"({"messages":[{"role":"user","content":"legacy refund question"}]})";
    {
        SQLite::Database db(dir.db(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        aigw::daemon::ledger::register_hist_functions(db);
        const auto all = aigw::daemon::ledger::ledger_migrations();
        REQUIRE(all.size() >= 6);
        REQUIRE(aigw::daemon::ledger::apply_migrations(db, all.first(5), "the ledger") == 5);
        db.exec(
            "INSERT INTO requests(id, ts_ms, request_id, status, final_attempt) VALUES (1, 1000, 'legacy', 200, 1)");
        SQLite::Statement insert(
            db, "INSERT INTO request_bodies(request_row_id, request_body, response_body) VALUES (1, ?, ?)");
        insert.bind(1, old_body);
        insert.bind(2, "an old answer");
        insert.exec();
        db.exec(
            "INSERT INTO requests(id, ts_ms, request_id, status, final_attempt) VALUES (2, 2000, 'not-json', 200, 1)");
        db.exec(
            "INSERT INTO request_bodies(request_row_id, request_body, response_body) VALUES (2, 'plain refund text', "
            "'')");
    }
    auto ledger = open_at(dir.db());
    CHECK(ledger->schema_version() == Ledger::latest_schema_version());
    const auto rows = final_rows(*ledger);
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].request_body == old_body);
    CHECK(rows[0].response_body == "an old answer");
    auto hits = ledger->search("refund", {});
    REQUIRE(hits.has_value());
    CHECK(hit_ids(*hits) == std::vector<std::string>{"not-json", "legacy"});
    CHECK(hit_ids(*ledger->search("answer", {})) == std::vector<std::string>{"legacy"});
    CHECK(hit_ids(*ledger->search("role", {})).empty());  // keys are not words
}
