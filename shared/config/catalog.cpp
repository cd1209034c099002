#include "shared/config/catalog.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <stdexcept>

namespace aigw::config {

/// Generated at build time from shared/config/catalog.json (cmake/embed_catalog.cmake).
extern const std::string_view k_builtin_catalog_json;

namespace {

constexpr double k_per_million = 1'000'000.0;

/// `v` when non-zero, else `fallback`: price fields use 0 for "not set".
double or_else(double v, double fallback)
{
    return v != 0 ? v : fallback;
}

using Json = nlohmann::json;

/// Field readers for one catalog entry; every error names the entry and the field.
class EntryReader {
public:
    explicit EntryReader(std::string_view id) : m_id(id) {}

    std::unexpected<std::string> fail(std::string_view field, std::string_view what) const
    {
        std::string msg = "model catalog entry '" + m_id + "': ";
        msg += field;
        msg += ' ';
        msg += what;
        return std::unexpected(std::move(msg));
    }

    std::expected<void, std::string> number(const Json& obj, const char* key, std::string_view field, double& out) const
    {
        auto it = obj.find(key);
        if (it == obj.end() || it->is_null()) {
            return {};
        }
        if (!it->is_number() || it->get<double>() < 0) {
            return fail(field, "must be a non-negative number (USD per 1M tokens)");
        }
        out = it->get<double>();
        return {};
    }

    std::expected<void, std::string> integer(const Json& obj, const char* key, std::string_view field,
                                             std::int64_t& out) const
    {
        auto it = obj.find(key);
        if (it == obj.end() || it->is_null()) {
            return {};
        }
        if (!it->is_number_integer() || it->get<std::int64_t>() < 0) {
            return fail(field, "must be a non-negative integer");
        }
        out = it->get<std::int64_t>();
        return {};
    }

    std::expected<void, std::string> boolean(const Json& obj, const char* key, bool& out) const
    {
        auto it = obj.find(key);
        if (it == obj.end() || it->is_null()) {
            return {};
        }
        if (!it->is_boolean()) {
            return fail(key, "must be true or false");
        }
        out = it->get<bool>();
        return {};
    }

    /// Rejects keys outside `known`: a typo in a price field would otherwise price a model at 0.
    std::expected<void, std::string> only_known(const Json& obj, std::string_view where,
                                                std::initializer_list<std::string_view> known) const
    {
        for (const auto& [key, value] : obj.items()) {
            if (std::find(known.begin(), known.end(), key) == known.end()) {
                std::string field(where);
                field += where.empty() ? "" : ".";
                field += key;
                return fail(field, "is not a known field");
            }
        }
        return {};
    }

private:
    std::string m_id;
};

#define AIGW_TRY(expr)                                     \
    do {                                                   \
        if (auto _r = (expr); !_r) {                       \
            return std::unexpected(std::move(_r.error())); \
        }                                                  \
    } while (0)

std::expected<Price, std::string> price_from_json(const EntryReader& r, const Json& j)
{
    if (!j.is_object()) {
        return r.fail("price", "must be an object like {\"input\": 1.0, \"output\": 2.0}");
    }
    AIGW_TRY(
        r.only_known(j, "price", {"input", "cached_input", "cache_write", "cache_write_1h", "output", "long_context"}));
    Price p;
    AIGW_TRY(r.number(j, "input", "price.input", p.input));
    AIGW_TRY(r.number(j, "cached_input", "price.cached_input", p.cached_input));
    AIGW_TRY(r.number(j, "cache_write", "price.cache_write", p.cache_write));
    AIGW_TRY(r.number(j, "cache_write_1h", "price.cache_write_1h", p.cache_write_1h));
    AIGW_TRY(r.number(j, "output", "price.output", p.output));
    if (auto it = j.find("long_context"); it != j.end() && !it->is_null()) {
        const Json& lc = *it;
        if (!lc.is_object()) {
            return r.fail("price.long_context", "must be an object like {\"threshold\": 200000, \"input\": 6.0}");
        }
        AIGW_TRY(r.only_known(lc, "price.long_context",
                              {"threshold", "input", "cached_input", "cache_write", "cache_write_1h", "output"}));
        AIGW_TRY(r.integer(lc, "threshold", "price.long_context.threshold", p.long_context_threshold));
        if (p.long_context_threshold <= 0) {
            return r.fail("price.long_context.threshold", "must be a positive token count");
        }
        AIGW_TRY(r.number(lc, "input", "price.long_context.input", p.long_input));
        AIGW_TRY(r.number(lc, "cached_input", "price.long_context.cached_input", p.long_cached_input));
        AIGW_TRY(r.number(lc, "cache_write", "price.long_context.cache_write", p.long_cache_write));
        AIGW_TRY(r.number(lc, "cache_write_1h", "price.long_context.cache_write_1h", p.long_cache_write_1h));
        AIGW_TRY(r.number(lc, "output", "price.long_context.output", p.long_output));
    }
    return p;
}

/// Where a provider ranks when several list the same bare model name: the model makers
/// first, aggregators last. Lower is better.
int provider_rank(std::string_view provider)
{
    static constexpr std::array<std::string_view, 8> k_first_party = {
        "openai", "anthropic", "gemini", "mistral", "deepseek", "xai", "moonshot", "perplexity"};
    for (std::size_t i = 0; i < k_first_party.size(); ++i) {
        if (k_first_party[i] == provider) {
            return static_cast<int>(i);
        }
    }
    // Resellers of open models next (ties go to id order); aggregators after them.
    return provider == "openrouter" ? 200 : 100;
}

}  // namespace

double cost_usd(const Price& p, const wire::Usage& u)
{
    const bool long_tier = p.long_context_threshold > 0 && u.input_tokens > p.long_context_threshold;
    double input = p.input;
    double cached = p.cached_input;
    double write_5m = p.cache_write;
    double write_1h = p.cache_write_1h;
    double output = p.output;
    if (long_tier) {
        input = or_else(p.long_input, input);
        cached = or_else(p.long_cached_input, cached);
        write_5m = or_else(p.long_cache_write, write_5m);
        write_1h = or_else(p.long_cache_write_1h, write_1h);
        output = or_else(p.long_output, output);
    }
    write_5m = or_else(write_5m, input);
    write_1h = or_else(write_1h, write_5m);

    // input_tokens includes cache reads and writes; price each part once.
    const std::int64_t uncached =
        std::max<std::int64_t>(0, u.input_tokens - u.cached_tokens - u.cache_write_tokens - u.cache_write_1h_tokens);
    // Reasoning tokens are already inside output_tokens.
    const double total = static_cast<double>(uncached) * input + static_cast<double>(u.cached_tokens) * cached +
                         static_cast<double>(u.cache_write_tokens) * write_5m +
                         static_cast<double>(u.cache_write_1h_tokens) * write_1h +
                         static_cast<double>(u.output_tokens) * output;
    return total / k_per_million;
}

nlohmann::json to_json(const ModelInfo& m)
{
    Json j = {
        {"mode", m.mode},
        {"context_window", m.context_window},
        {"max_output_tokens", m.max_output_tokens},
        {"tools", m.tools},
        {"vision", m.vision},
        {"json", m.json_mode},
        {"reasoning", m.reasoning},
    };
    if (m.price) {
        const Price& p = *m.price;
        Json price = {{"input", p.input}, {"cached_input", p.cached_input}, {"output", p.output}};
        if (p.cache_write != 0) {
            price["cache_write"] = p.cache_write;
        }
        if (p.cache_write_1h != 0) {
            price["cache_write_1h"] = p.cache_write_1h;
        }
        if (p.long_context_threshold > 0) {
            Json lc = {{"threshold", p.long_context_threshold}};
            auto put = [&lc](const char* key, double v) {
                if (v != 0) {
                    lc[key] = v;
                }
            };
            put("input", p.long_input);
            put("cached_input", p.long_cached_input);
            put("cache_write", p.long_cache_write);
            put("cache_write_1h", p.long_cache_write_1h);
            put("output", p.long_output);
            price["long_context"] = std::move(lc);
        }
        j["price"] = std::move(price);
    }
    return j;
}

std::expected<ModelInfo, std::string> model_from_json(std::string_view id, const nlohmann::json& entry)
{
    EntryReader r(id);
    const auto slash = id.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == id.size()) {
        return r.fail("id", "must be \"provider/model\"");
    }
    if (!entry.is_object()) {
        return r.fail("entry", "must be an object");
    }
    AIGW_TRY(r.only_known(entry, "",
                          {"mode", "context_window", "max_output_tokens", "tools", "vision", "json", "reasoning",
                           "price", "description"}));
    ModelInfo m;
    m.id = std::string(id);
    m.provider = std::string(id.substr(0, slash));
    m.name = std::string(id.substr(slash + 1));
    if (auto it = entry.find("mode"); it != entry.end() && !it->is_null()) {
        if (!it->is_string() || (*it != "chat" && *it != "embedding")) {
            return r.fail("mode", "must be \"chat\" or \"embedding\"");
        }
        m.mode = it->get<std::string>();
    }
    AIGW_TRY(r.integer(entry, "context_window", "context_window", m.context_window));
    AIGW_TRY(r.integer(entry, "max_output_tokens", "max_output_tokens", m.max_output_tokens));
    AIGW_TRY(r.boolean(entry, "tools", m.tools));
    AIGW_TRY(r.boolean(entry, "vision", m.vision));
    AIGW_TRY(r.boolean(entry, "json", m.json_mode));
    AIGW_TRY(r.boolean(entry, "reasoning", m.reasoning));
    if (auto it = entry.find("price"); it != entry.end() && !it->is_null()) {
        auto price = price_from_json(r, *it);
        if (!price) {
            return std::unexpected(std::move(price.error()));
        }
        m.price = *price;
    }
    return m;
}

const Catalog& Catalog::builtin()
{
    static const Catalog k_catalog = [] {
        auto doc = Json::parse(k_builtin_catalog_json, nullptr, /*allow_exceptions=*/false);
        if (doc.is_discarded()) {
            throw std::runtime_error("the built-in model catalog is not valid JSON");
        }
        auto parsed = parse(doc);
        if (!parsed) {
            throw std::runtime_error("the built-in model catalog is invalid: " + parsed.error());
        }
        return std::move(*parsed);
    }();
    return k_catalog;
}

std::expected<Catalog, std::string> Catalog::parse(const nlohmann::json& doc)
{
    if (!doc.is_object()) {
        return std::unexpected(std::string("model catalog must be a JSON object with a \"models\" object"));
    }
    if (auto v = doc.find("version"); v != doc.end() && !(v->is_number_integer() && v->get<int>() == 1)) {
        return std::unexpected(std::string("model catalog: unsupported \"version\" (this aigw reads version 1)"));
    }
    auto models = doc.find("models");
    if (models == doc.end() || !models->is_object()) {
        return std::unexpected(std::string("model catalog must have a \"models\" object"));
    }
    Catalog c;
    for (const auto& [id, entry] : models->items()) {
        auto m = model_from_json(id, entry);
        if (!m) {
            return std::unexpected(std::move(m.error()));
        }
        c.m_models.insert_or_assign(id, std::move(*m));
        c.m_sources.insert_or_assign(id, entry);
    }
    return c;
}

void Catalog::merge(const Catalog& extra)
{
    for (const auto& [id, m] : extra.m_models) {
        auto old = m_models.find(id);
        auto src = extra.m_sources.find(id);
        if (old != m_models.end() && src != extra.m_sources.end()) {
            // Patch the old entry with only the fields the extra entry spelled out.
            Json merged = to_json(old->second);
            merged.merge_patch(src->second);
            if (auto patched = model_from_json(id, merged)) {
                old->second = std::move(*patched);
                m_sources.insert_or_assign(id, std::move(merged));
                continue;
            }
        }
        m_models.insert_or_assign(id, m);
        if (src != extra.m_sources.end()) {
            m_sources.insert_or_assign(id, src->second);
        } else {
            m_sources.erase(id);
        }
    }
}

void Catalog::upsert(ModelInfo m)
{
    if (m.id.empty()) {
        m.id = m.provider + "/" + m.name;
    } else if (m.provider.empty() || m.name.empty()) {
        const auto slash = m.id.find('/');
        if (slash != std::string::npos) {
            m.provider = m.id.substr(0, slash);
            m.name = m.id.substr(slash + 1);
        }
    }
    m_sources.erase(m.id);
    std::string id = m.id;
    m_models.insert_or_assign(std::move(id), std::move(m));
}

const ModelInfo* Catalog::find(std::string_view id) const
{
    auto it = m_models.find(id);
    return it == m_models.end() ? nullptr : &it->second;
}

const ModelInfo* Catalog::find_bare(std::string_view name) const
{
    const ModelInfo* best = nullptr;
    int best_rank = std::numeric_limits<int>::max();
    for (const auto& [id, m] : m_models) {
        if (m.name != name) {
            continue;
        }
        // Strictly better only: on a tie the first id in sorted order stays.
        if (int rank = provider_rank(m.provider); rank < best_rank) {
            best = &m;
            best_rank = rank;
        }
    }
    return best;
}

namespace {

bool all_digits(std::string_view s)
{
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// "MMDD" with a plausible month and day (so "-8192", a context size, is not a date).
bool is_month_day(std::string_view s)
{
    if (s.size() != 4 || !all_digits(s)) {
        return false;
    }
    int month = (s[0] - '0') * 10 + (s[1] - '0');
    int day = (s[2] - '0') * 10 + (s[3] - '0');
    return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

/// "YYYYMMDD" or "YYYY-MM-DD" from 2020 on.
bool is_date(std::string_view s)
{
    if (s.size() == 10 && s[4] == '-' && s[7] == '-') {
        std::string compact = std::string(s.substr(0, 4)) + std::string(s.substr(5, 2)) + std::string(s.substr(8, 2));
        return is_date(compact);
    }
    return s.size() == 8 && all_digits(s) && s.substr(0, 2) == "20" && is_month_day(s.substr(4));
}

}  // namespace

std::string normalise_model_id(std::string_view id)
{
    auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!id.empty() && is_space(id.front())) {
        id.remove_prefix(1);
    }
    while (!id.empty() && is_space(id.back())) {
        id.remove_suffix(1);
    }
    std::string out;
    out.reserve(id.size());
    for (char c : id) {
        if (c == '/' && !out.empty() && out.back() == '/') {
            continue;
        }
        out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
    }
    return out;
}

std::optional<std::string> strip_snapshot_suffix(std::string_view name)
{
    if (auto at = name.rfind('@'); at != std::string_view::npos && at > 0 && is_date(name.substr(at + 1))) {
        return std::string(name.substr(0, at));
    }
    if (name.size() > 11 && name[name.size() - 11] == '-' && is_date(name.substr(name.size() - 10))) {
        return std::string(name.substr(0, name.size() - 11));
    }
    auto dash = name.rfind('-');
    if (dash == std::string_view::npos || dash == 0) {
        return std::nullopt;
    }
    std::string_view head = name.substr(0, dash);
    std::string_view tail = name.substr(dash + 1);
    if (is_date(tail) || is_month_day(tail) || (tail.size() == 3 && all_digits(tail)) || tail == "latest" ||
        tail == "preview" || tail == "exp") {
        return std::string(head);
    }
    // -preview-MM-DD and -exp-MM-DD: the date is two dash-separated parts.
    if (tail.size() == 2 && all_digits(tail)) {
        auto dash2 = head.rfind('-');
        if (dash2 != std::string_view::npos && dash2 > 0) {
            std::string_view mm = head.substr(dash2 + 1);
            std::string_view before = head.substr(0, dash2);
            if (mm.size() == 2 && all_digits(mm) && (before.ends_with("-preview") || before.ends_with("-exp"))) {
                return std::string(before.substr(0, before.rfind('-')));
            }
        }
    }
    return std::nullopt;
}

const ModelInfo* Catalog::find_priced(std::string_view id) const
{
    if (const ModelInfo* exact = find(id)) {
        return exact;
    }
    std::string cur = normalise_model_id(id);
    while (true) {
        for (const auto& [key, m] : m_models) {
            if (normalise_model_id(key) == cur) {
                return &m;
            }
        }
        // Only the model part loses suffixes: "openai/gpt-4o-2024-08-06" -> "openai/gpt-4o".
        auto slash = cur.find('/');
        auto stripped = strip_snapshot_suffix(slash == std::string::npos ? cur : cur.substr(slash + 1));
        if (!stripped || stripped->empty()) {
            return nullptr;
        }
        cur = slash == std::string::npos ? *stripped : cur.substr(0, slash + 1) + *stripped;
    }
}

const ModelInfo* Catalog::find_bare_priced(std::string_view name) const
{
    if (const ModelInfo* exact = find_bare(name)) {
        return exact;
    }
    std::string cur = normalise_model_id(name);
    while (true) {
        const ModelInfo* best = nullptr;
        int best_rank = std::numeric_limits<int>::max();
        for (const auto& [key, m] : m_models) {
            if (normalise_model_id(m.name) == cur) {
                if (int rank = provider_rank(m.provider); rank < best_rank) {
                    best = &m;
                    best_rank = rank;
                }
            }
        }
        if (best != nullptr) {
            return best;
        }
        auto stripped = strip_snapshot_suffix(cur);
        if (!stripped || stripped->empty()) {
            return nullptr;
        }
        cur = *stripped;
    }
}

std::vector<const ModelInfo*> Catalog::all() const
{
    std::vector<const ModelInfo*> out;
    out.reserve(m_models.size());
    for (const auto& [id, m] : m_models) {
        out.push_back(&m);
    }
    return out;
}

#undef AIGW_TRY

}  // namespace aigw::config
