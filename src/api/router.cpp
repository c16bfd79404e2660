#include "api/router.hpp"

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string_view>

namespace aragora::api {
namespace {

constexpr std::string_view kV1Prefix = "/api/v1/";

std::vector<std::string> Split(std::string_view path) {
    std::vector<std::string> out;
    if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
    size_t pos = 0;
    if (!path.empty() && path.front() == '/') pos = 1;
    while (pos <= path.size()) {
        size_t slash = path.find('/', pos);
        if (slash == std::string_view::npos) slash = path.size();
        out.emplace_back(path.substr(pos, slash - pos));
        pos = slash + 1;
    }
    if (out.size() == 1 && out.front().empty()) out.clear();  // "/"
    return out;
}

bool IsParam(const std::string& segment) {
    return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

bool IsRest(const std::string& segment) {
    return IsParam(segment) && segment.size() > 5 &&
           segment.compare(segment.size() - 4, 4, "...}") == 0;
}

std::string ParamName(const std::string& segment) {
    std::string name = segment.substr(1, segment.size() - 2);
    if (name.size() > 3 && name.compare(name.size() - 3, 3, "...") == 0)
        name.resize(name.size() - 3);
    return name;
}

// Matches `path` against `tmpl`; on success fills `params` and `rank` (one entry per
// template segment: 2 literal, 1 parameter, 0 tail), so that comparing ranks
// lexicographically prefers exact segments from the left.
bool MatchTemplate(const std::vector<std::string>& tmpl, const std::vector<std::string>& path,
                   std::map<std::string, std::string>& params, std::vector<int>& rank) {
    params.clear();
    rank.clear();
    for (size_t i = 0; i < tmpl.size(); ++i) {
        const std::string& t = tmpl[i];
        if (IsRest(t) && i + 1 == tmpl.size()) {
            if (i >= path.size()) return false;
            std::string tail;
            for (size_t j = i; j < path.size(); ++j) {
                if (path[j].empty()) return false;
                if (j > i) tail += '/';
                tail += path[j];
            }
            params[ParamName(t)] = std::move(tail);
            rank.push_back(0);
            return true;
        }
        if (i >= path.size()) return false;
        if (IsParam(t)) {
            if (path[i].empty()) return false;
            params[ParamName(t)] = path[i];
            rank.push_back(1);
        } else {
            if (t != path[i]) return false;
            rank.push_back(2);
        }
    }
    return tmpl.size() == path.size();
}

}  // namespace

void Router::Add(Route route) {
    auto find = [this](const std::string& method, const std::string& path) {
        return std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) {
            return e.route.method == method && e.route.path == path;
        });
    };
    auto existing = find(route.method, route.path);
    if (existing != entries_.end()) {
        if (!existing->alias) {
            throw std::invalid_argument("duplicate route " + route.method + " " + route.path);
        }
        // An explicit route replaces the alias generated for it earlier.
        const auto index = static_cast<size_t>(existing - entries_.begin());
        entries_.erase(existing);
        segments_.erase(segments_.begin() + static_cast<std::ptrdiff_t>(index));
    }
    std::optional<Route> alias;
    if (route.path.compare(0, kV1Prefix.size(), kV1Prefix) == 0 &&
        route.path.size() > kV1Prefix.size()) {
        std::string alias_path = "/api/" + route.path.substr(kV1Prefix.size());
        if (find(route.method, alias_path) == entries_.end()) {
            alias = route;
            alias->path = std::move(alias_path);
        }
    }
    segments_.push_back(Split(route.path));
    entries_.push_back(Entry{std::move(route), false});
    if (alias) {
        segments_.push_back(Split(alias->path));
        entries_.push_back(Entry{std::move(*alias), true});
    }
}

Router::Match Router::Find(const std::string& method, const std::string& path) const {
    const std::vector<std::string> parts = Split(path);
    Match best;
    std::vector<int> best_rank;
    std::map<std::string, std::string> params;
    std::vector<int> rank;
    for (size_t i = 0; i < entries_.size(); ++i) {
        if (!MatchTemplate(segments_[i], parts, params, rank)) continue;
        const Route& route = entries_[i].route;
        if (route.method != method) {
            best.allowed_methods.push_back(route.method);
            continue;
        }
        if (best.route == nullptr || rank > best_rank) {
            best.route = &route;
            best.params = params;
            best_rank = rank;
        }
    }
    if (best.route != nullptr) {
        best.allowed_methods.clear();
    } else {
        std::sort(best.allowed_methods.begin(), best.allowed_methods.end());
        best.allowed_methods.erase(
            std::unique(best.allowed_methods.begin(), best.allowed_methods.end()),
            best.allowed_methods.end());
    }
    return best;
}

}  // namespace aragora::api
