#pragma once

// The one route table's machinery (STYLE.md "One route table"): method + path template
// → handler, auth level, rate-limit class. Handlers see plain structs, never Beast.

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "auth/principal.hpp"
#include "net/http_types.hpp"
#include "trace/tracer.hpp"

namespace aragora::api {

// Who may call a route (auth::Permission of the principal's role, auth/roles.hpp):
// kPublic anyone; kUser any principal (viewer and up: reads, own profile and keys);
// kMember debate:create (member and up; cancelling someone else's debate is checked by
// the handler); kAdmin admin (admin and owner); kOwner owner (irreversible operations:
// deleting backups, restoring).
enum class AuthLevel { kPublic, kUser, kMember, kAdmin, kOwner };
enum class RateClass { kNone, kRead, kWrite, kDebateCreate, kAuth };

struct RequestContext {
    const net::HttpRequest& request;
    std::string correlation_id;
    std::map<std::string, std::string> params;  // "{id}" in the template → "id" here
    std::string route;                          // the matched template (metrics label)
    auth::Principal principal = {};  // set by the auth middleware (anonymous in open mode)
    std::string client_ip = {};      // the socket peer, or the forwarded client via a trusted proxy
    trace::Context trace = {};       // the request's server span (no-op when tracing is off)

    // The path parameter `name` ("" when the route has none of that name).
    std::string Param(const std::string& name) const {
        auto it = params.find(name);
        return it == params.end() ? std::string() : it->second;
    }
};

using Handler = std::function<boost::asio::awaitable<net::HttpResponse>(RequestContext&)>;

struct Route {
    std::string method;  // GET, POST, PUT, PATCH, DELETE
    std::string path;    // template, e.g. "/api/v1/debates/{id}"; "{rest...}" matches the tail
    AuthLevel auth = AuthLevel::kUser;
    RateClass rate = RateClass::kRead;
    Handler handler;
    std::string summary = {};  // one line for the OpenAPI document
    std::string tag = {};      // OpenAPI tag (debates, receipts, health, ...)
    // OpenAPI component schemas (openapi.cpp) of the JSON request body and of the success
    // answer; "" = no body / a generic object. The route table (routes.cpp) names every
    // field (`.request_schema = ...`), so two schema names cannot be swapped unseen; the
    // initialisers here let a row leave a schema out without a warning.
    std::string request_schema = {};
    std::string response_schema = {};
};

class Router {
public:
    // Adds a route. A path starting with "/api/v1/" is also served at "/api/<rest>" (the
    // same handler and auth), unless that alias was added explicitly (before or after).
    // Startup-only; adding the same method + template twice throws std::invalid_argument.
    void Add(Route route);

    struct Match {
        const Route* route = nullptr;  // null: no match
        std::map<std::string, std::string> params;
        std::vector<std::string> allowed_methods;  // path matched, method did not (405)
    };
    // Exact segments win over parameters (compared segment by segment from the left); a
    // path matches at most one template per method. A trailing '/' is ignored. A parameter
    // matches one non-empty segment; "{rest...}" (last segment only) matches one or more.
    // Parameter values are passed as found (ids are validated by the handlers).
    // Thread-safe once the table is built (Find is const and allocation-only).
    Match Find(const std::string& method, const std::string& path) const;

    // Every route as added, including the generated /api/ aliases (flag `alias`).
    struct Entry {
        Route route;
        bool alias = false;
    };
    const std::vector<Entry>& entries() const { return entries_; }

private:
    std::vector<Entry> entries_;
    std::vector<std::vector<std::string>> segments_;  // entries_[i]'s template, split on '/'
};

}  // namespace aragora::api
