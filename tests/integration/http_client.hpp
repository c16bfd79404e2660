#pragma once

// A small blocking HTTP/1.1 client over POSIX sockets for the black-box tests: one
// connection per request (`Connection: close`), a deadline on every step, and a raw mode
// that sends arbitrary bytes (malformed requests) and reports whether the server closed
// the connection afterwards. Only 127.0.0.1.

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aragora::testing {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
    int status = 0;      // 0 when no response could be read (see `transport_error`)
    std::string reason;  // the status line's reason phrase
    Headers headers;
    std::string body;  // chunked bodies are decoded
    std::string transport_error;
    // Raw() only: the server closed the connection after (or instead of) the response.
    bool closed = false;

    // The first header named `name` (case-insensitive).
    std::optional<std::string> Header(std::string_view name) const;
    // The body parsed as JSON; a parse failure gives a null value (and `json_error`).
    boost::json::value Json() const;
    // The body as a JSON object; an empty object when it is not one.
    boost::json::object Object() const;
    bool IsJsonObject() const;
    // One line for assertion messages: status, content type and the start of the body.
    std::string Describe() const;
};

class HttpClient {
public:
    explicit HttpClient(std::uint16_t port,
                        std::chrono::milliseconds timeout = std::chrono::seconds(15))
        : port_(port), timeout_(timeout) {}

    // `headers` may replace the default Host (127.0.0.1:<port>).
    HttpResponse Get(const std::string& target, const Headers& headers = {}) const;
    // POST with a body; Content-Type defaults to application/json when a body is sent.
    HttpResponse Post(const std::string& target, const std::string& body = "",
                      const Headers& headers = {}) const;
    HttpResponse Request(const std::string& method, const std::string& target,
                         const std::string& body = "", const Headers& headers = {}) const;

    // Sends `bytes` as they are on a fresh connection and reads one response (status 0
    // when the server sent none). Then waits up to `close_wait` for the server to close
    // the connection and sets `closed`.
    HttpResponse Raw(const std::string& bytes, std::chrono::milliseconds close_wait) const;

    std::uint16_t port() const { return port_; }

private:
    std::uint16_t port_;
    std::chrono::milliseconds timeout_;
};

}  // namespace aragora::testing
