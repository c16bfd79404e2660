#include "http_client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <cstring>

namespace aragora::testing {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

int RemainingMs(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return static_cast<int>(std::max<std::int64_t>(0, left.count()));
}

std::string Lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::string Trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
        s.remove_suffix(1);
    }
    return std::string(s);
}

bool WaitFor(int fd, short events, Clock::time_point deadline) {
    pollfd p{fd, events, 0};
    while (true) {
        int rc = ::poll(&p, 1, RemainingMs(deadline));
        if (rc > 0) return true;
        if (rc == 0) return false;
        if (errno != EINTR) return false;
    }
}

bool ConnectTo(int fd, std::uint16_t port, Clock::time_point deadline, std::string& error) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return true;
    if (errno != EINPROGRESS) {
        error = std::string("connect: ") + std::strerror(errno);
        return false;
    }
    if (!WaitFor(fd, POLLOUT, deadline)) {
        error = "connect: timed out";
        return false;
    }
    int so_error = 0;
    socklen_t len = sizeof so_error;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
    if (so_error != 0) {
        error = std::string("connect: ") + std::strerror(so_error);
        return false;
    }
    return true;
}

// Sends everything it can. A server that answers early (413) and closes may make the
// rest of the send fail; that is not an error for the caller, who reads the answer.
bool SendAll(int fd, std::string_view data, Clock::time_point deadline, std::string& error) {
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n > 0) {
            data.remove_prefix(static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            if (!WaitFor(fd, POLLOUT, deadline)) {
                error = "send: timed out";
                return false;
            }
            continue;
        }
        error = std::string("send: ") + std::strerror(errno);
        return false;
    }
    return true;
}

enum class ReadResult { kData, kEof, kError };

ReadResult ReadSome(int fd, std::string& buffer, Clock::time_point deadline, std::string& error) {
    char chunk[16384];
    while (true) {
        ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n > 0) {
            buffer.append(chunk, static_cast<std::size_t>(n));
            return ReadResult::kData;
        }
        if (n == 0) return ReadResult::kEof;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (!WaitFor(fd, POLLIN, deadline)) {
                error = "recv: timed out";
                return ReadResult::kError;
            }
            continue;
        }
        if (errno == ECONNRESET) return ReadResult::kEof;
        error = std::string("recv: ") + std::strerror(errno);
        return ReadResult::kError;
    }
}

// Decodes a chunked body starting at `pos`. nullopt while incomplete.
std::optional<std::string> DecodeChunked(const std::string& buf, std::size_t pos) {
    std::string out;
    while (true) {
        std::size_t eol = buf.find("\r\n", pos);
        if (eol == std::string::npos) return std::nullopt;
        std::size_t size = 0;
        try {
            size = std::stoul(buf.substr(pos, eol - pos), nullptr, 16);
        } catch (const std::exception&) {
            return out;  // malformed: hand back what we have
        }
        pos = eol + 2;
        if (size == 0) {
            if (buf.find("\r\n", pos) == std::string::npos) return std::nullopt;
            return out;
        }
        if (buf.size() < pos + size + 2) return std::nullopt;
        out.append(buf, pos, size);
        pos += size + 2;
    }
}

// True when `buf` holds a whole response (or `eof` ends it); fills `r`.
bool ParseResponse(const std::string& buf, bool eof, bool head, HttpResponse& r) {
    std::size_t header_end = buf.find("\r\n\r\n");
    if (header_end == std::string::npos) {
        if (eof && !buf.empty()) r.transport_error = "connection closed inside the headers";
        return eof;
    }
    r.headers.clear();
    std::size_t line_end = buf.find("\r\n");
    std::string status_line = buf.substr(0, line_end);
    // HTTP/1.1 200 OK
    std::size_t sp1 = status_line.find(' ');
    if (sp1 == std::string::npos || status_line.compare(0, 5, "HTTP/") != 0) {
        r.transport_error = "not an HTTP response: " + status_line.substr(0, 80);
        return true;
    }
    std::size_t sp2 = status_line.find(' ', sp1 + 1);
    r.status = std::atoi(status_line.substr(sp1 + 1, sp2 - sp1 - 1).c_str());
    r.reason = sp2 == std::string::npos ? "" : status_line.substr(sp2 + 1);
    std::size_t pos = line_end + 2;
    while (pos < header_end) {
        std::size_t eol = buf.find("\r\n", pos);
        std::string line = buf.substr(pos, eol - pos);
        pos = eol + 2;
        std::size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        r.headers.emplace_back(Trim(line.substr(0, colon)), Trim(line.substr(colon + 1)));
    }
    const std::size_t body_start = header_end + 4;
    if (head || r.status / 100 == 1 || r.status == 204 || r.status == 304) {
        r.body.clear();
        return true;
    }
    auto te = r.Header("Transfer-Encoding");
    if (te && Lower(*te).find("chunked") != std::string::npos) {
        auto body = DecodeChunked(buf, body_start);
        if (body) {
            r.body = std::move(*body);
            return true;
        }
        if (eof) r.transport_error = "connection closed inside a chunked body";
        return eof;
    }
    auto cl = r.Header("Content-Length");
    if (cl) {
        std::size_t length = std::strtoull(cl->c_str(), nullptr, 10);
        if (buf.size() - body_start >= length) {
            r.body = buf.substr(body_start, length);
            return true;
        }
        if (eof) {
            r.body = buf.substr(body_start);
            r.transport_error = "connection closed before Content-Length bytes";
        }
        return eof;
    }
    if (eof) r.body = buf.substr(body_start);
    return eof;
}

HttpResponse Exchange(std::uint16_t port, const std::string& bytes, bool head,
                      std::chrono::milliseconds timeout,
                      std::optional<std::chrono::milliseconds> close_wait) {
    HttpResponse r;
    const auto deadline = Clock::now() + timeout;
    Fd fd(::socket(AF_INET, SOCK_STREAM, 0));
    if (fd.get() < 0) {
        r.transport_error = std::string("socket: ") + std::strerror(errno);
        return r;
    }
    if (!ConnectTo(fd.get(), port, deadline, r.transport_error)) return r;
    std::string send_error;
    SendAll(fd.get(), bytes, deadline, send_error);  // an early answer may cut the send short

    std::string buffer;
    bool eof = false;
    while (true) {
        if (!buffer.empty() && ParseResponse(buffer, false, head, r)) break;
        std::string read_error;
        ReadResult rr = ReadSome(fd.get(), buffer, deadline, read_error);
        if (rr == ReadResult::kData) continue;
        if (rr == ReadResult::kEof) {
            eof = true;
            ParseResponse(buffer, true, head, r);
            if (buffer.empty()) r.transport_error = "connection closed without a response";
            break;
        }
        r.transport_error = read_error + (send_error.empty() ? "" : " (" + send_error + ")");
        ParseResponse(buffer, true, head, r);
        return r;
    }
    if (close_wait) {
        if (eof) {
            r.closed = true;
        } else {
            const auto wait_deadline = Clock::now() + *close_wait;
            std::string rest;
            std::string ignored;
            while (true) {
                ReadResult rr = ReadSome(fd.get(), rest, wait_deadline, ignored);
                if (rr == ReadResult::kEof) {
                    r.closed = true;
                    break;
                }
                if (rr == ReadResult::kError) break;  // still open at the deadline
            }
        }
    }
    return r;
}

}  // namespace

std::optional<std::string> HttpResponse::Header(std::string_view name) const {
    const std::string wanted = Lower(std::string(name));
    for (const auto& [k, v] : headers) {
        if (Lower(k) == wanted) return v;
    }
    return std::nullopt;
}

json::value HttpResponse::Json() const {
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec) return nullptr;
    return v;
}

json::object HttpResponse::Object() const {
    json::value v = Json();
    if (!v.is_object()) return {};
    return v.as_object();
}

bool HttpResponse::IsJsonObject() const { return Json().is_object(); }

std::string HttpResponse::Describe() const {
    std::string out = "HTTP " + std::to_string(status);
    if (!transport_error.empty()) out += " [" + transport_error + "]";
    out += " content-type=" + Header("Content-Type").value_or("-");
    out += " body=" + body.substr(0, 600);
    return out;
}

HttpResponse HttpClient::Get(const std::string& target, const Headers& headers) const {
    return Request("GET", target, "", headers);
}

HttpResponse HttpClient::Post(const std::string& target, const std::string& body,
                              const Headers& headers) const {
    return Request("POST", target, body, headers);
}

HttpResponse HttpClient::Request(const std::string& method, const std::string& target,
                                 const std::string& body, const Headers& headers) const {
    std::string req = method + " " + target + " HTTP/1.1\r\n";
    bool has_host = false;
    for (const auto& [k, v] : headers) has_host = has_host || Lower(k) == "host";
    if (!has_host) req += "Host: 127.0.0.1:" + std::to_string(port_) + "\r\n";
    req += "Connection: close\r\n";
    bool has_type = false;
    bool has_accept = false;
    for (const auto& [k, v] : headers) {
        req += k + ": " + v + "\r\n";
        if (Lower(k) == "content-type") has_type = true;
        if (Lower(k) == "accept") has_accept = true;
    }
    if (!has_accept) req += "Accept: */*\r\n";
    if (!body.empty() && !has_type) req += "Content-Type: application/json\r\n";
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
        req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    req += "\r\n";
    req += body;
    return Exchange(port_, req, method == "HEAD", timeout_, std::nullopt);
}

HttpResponse HttpClient::Raw(const std::string& bytes, std::chrono::milliseconds close_wait) const {
    return Exchange(port_, bytes, false, timeout_, close_wait);
}

}  // namespace aragora::testing
