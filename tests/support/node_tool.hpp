#pragma once

// A Node.js test tool from tests/tools run as a child process (s3rver, the OTLP collector):
// stdin and stdout piped, killed with the test process (PDEATHSIG) or by Stop(). The tool
// announces itself with one JSON line on stdout (its ports).

#include <boost/json/object.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace aragora::test_support {

class NodeTool {
public:
    // Runs `node <args...>` (or `program <args...>`, e.g. python3 for the Secrets Manager
    // stand-in) and reads its first stdout line within 30 s; it must be a JSON object holding
    // `required_key`. Null and `*error` set otherwise (`name` in the message).
    static std::unique_ptr<NodeTool> Start(const std::vector<std::string>& args,
                                           const std::string& name, const std::string& required_key,
                                           std::string* error, const std::string& program = "node");
    ~NodeTool();
    NodeTool(const NodeTool&) = delete;
    NodeTool& operator=(const NodeTool&) = delete;

    const boost::json::object& hello() const { return hello_; }
    int IntField(const std::string& key) const;
    void Stop();

private:
    NodeTool() = default;
    int pid_ = -1;
    int stdin_fd_ = -1;
    boost::json::object hello_;
};

// Reads `fd` until `stop(text)` is true, EOF or `deadline`; the text read so far.
template <class Stop>
std::string ReadUntil(int fd, std::chrono::steady_clock::time_point deadline, Stop stop);

std::string ReadUntilImpl(int fd, std::chrono::steady_clock::time_point deadline,
                          bool (*stop)(const std::string&, const void*), const void* ctx);

template <class Stop>
std::string ReadUntil(int fd, std::chrono::steady_clock::time_point deadline, Stop stop) {
    return ReadUntilImpl(
        fd, deadline,
        [](const std::string& t, const void* c) { return (*static_cast<const Stop*>(c))(t); },
        &stop);
}

}  // namespace aragora::test_support
