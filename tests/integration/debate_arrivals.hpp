#pragma once

// Load for the backup tests: new debates keep arriving at a server from a thread of their
// own (one about every 100 ms) until Stop() or destruction, which joins the thread, so a
// failed assertion never leaves it running.

#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "server_fixture.hpp"

namespace aragora::testing {

class DebateArrivals {
public:
    explicit DebateArrivals(HttpClient client) : thread_([this, client] { Run(client); }) {}
    ~DebateArrivals() { Stop(); }
    DebateArrivals(const DebateArrivals&) = delete;
    DebateArrivals& operator=(const DebateArrivals&) = delete;

    // Debates created so far (201 answers).
    int count() const { return arrived_.load(); }
    void Stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }

private:
    void Run(const HttpClient& client) {
        while (!stop_.load()) {
            HttpResponse r = client.Post(
                "/api/v1/debates", DebateBody("Arriving " + std::to_string(arrived_.load()), 1, 2));
            if (r.status == 201) ++arrived_;
            PollUntil([this] { return stop_.load(); }, std::chrono::milliseconds(100));
        }
    }

    std::atomic<bool> stop_{false};
    std::atomic<int> arrived_{0};
    std::thread thread_;  // last: starts once the counters exist
};

// The debates of `ids` that are completed once at least `at_least` of them are (polling up
// to `deadline`); fewer when the deadline passed.
inline std::set<std::string> WaitForCompleted(const HttpClient& http,
                                              const std::vector<std::string>& ids,
                                              std::size_t at_least, std::chrono::seconds deadline) {
    std::set<std::string> completed;
    PollUntil(
        [&] {
            for (const auto& id : ids) {
                if (completed.count(id)) continue;
                auto r = http.Get("/api/v1/debates/" + id);
                if (r.status == 200 && r.IsJsonObject() && r.Object()["status"] == "completed")
                    completed.insert(id);
            }
            return completed.size() >= at_least;
        },
        deadline);
    return completed;
}

}  // namespace aragora::testing
