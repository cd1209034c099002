#pragma once
// The semantic cache's vectors: unit-length embeddings of cached prompts, partitioned by
// model + parameters + earlier conversation (semantic_partition), searched by cosine
// similarity. A linear scan of one partition: fine for the few thousand entries the cap
// allows. Not thread-safe; ResponseCache holds it under its lock.

#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace aigw::daemon::cache {

struct SemanticMatch {
    std::string key;        ///< the exact-cache key of the matched entry
    double similarity = 0;  ///< cosine similarity, -1..1
};

class SemanticIndex {
public:
    explicit SemanticIndex(std::size_t max_entries = 10'000) : m_max_entries(max_entries) {}

    /// Stores `vector` (normalised here) for `key` in `partition`, replacing what `key` had.
    /// When over the cap the oldest vector goes (its exact entry stays). Returns false, and
    /// stores nothing, for an empty or all-zero vector. Returns the keys dropped for room in
    /// `dropped` when given.
    bool add(const std::string& partition, const std::string& key, std::vector<float> vector,
             std::vector<std::string>* dropped = nullptr);
    void remove(const std::string& key);
    void clear();

    /// The most similar vector in `partition` with similarity >= `threshold`, or nullopt.
    /// Vectors of another dimension (a changed embedding model) never match.
    std::optional<SemanticMatch> best_match(const std::string& partition, std::span<const float> vector,
                                            double threshold) const;

    std::size_t size() const { return m_where.size(); }
    bool contains(const std::string& key) const { return m_where.contains(key); }

    /// Scales `v` to unit length; false when it is empty or zero.
    static bool normalise(std::vector<float>& v);

private:
    struct Item {
        std::string key;
        std::vector<float> unit;
    };
    struct Where {
        std::string partition;
        std::list<std::string>::iterator age;  ///< position in m_oldest_first
    };

    std::size_t m_max_entries;
    std::unordered_map<std::string, std::vector<Item>> m_partitions;
    std::unordered_map<std::string, Where> m_where;
    std::list<std::string> m_oldest_first;
};

}  // namespace aigw::daemon::cache
