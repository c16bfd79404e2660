#include "app/event_replay.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "app/app_state.hpp"

namespace aragora::app {
namespace {

namespace asio = boost::asio;
using common::ErrorCode;
using common::Result;

asio::awaitable<void> Replay(App& app, std::string debate_id, std::int64_t since,
                             std::int64_t until, api::ReplayDone done) {
    auto load = [&app, &debate_id, since, until] {
        return StoredEventsBetween(*app.store, debate_id, since, until);
    };
    auto r = co_await app.pool.Run(load);
    done(std::move(r));
}

}  // namespace

Result<std::vector<events::Event>> StoredEventsBetween(storage::Store& store,
                                                       const std::string& debate_id,
                                                       std::int64_t since,
                                                       std::int64_t until_exclusive,
                                                       int page_size) {
    auto d = store.GetDebate(debate_id);
    if (!d) return d.error();
    std::vector<events::Event> out;
    std::int64_t from = since;
    while (true) {
        auto page = store.ListEvents(debate_id, from, page_size);
        if (!page) return page.error();
        const bool more = static_cast<int>(page->size()) == page_size;
        for (auto& e : *page) {
            if (e.seq >= until_exclusive) return out;
            from = e.seq;
            out.push_back(std::move(e));
        }
        if (!more) break;
    }
    return out;
}

api::ReplaySource MakeReplaySource(App& app) {
    return [&app](std::string debate_id, std::int64_t since, std::int64_t until,
                  api::ReplayDone done) {
        if (!app.store) {
            done(common::MakeError(ErrorCode::kUnavailable, "the server is still starting"));
            return;
        }
        asio::co_spawn(app.ioc, Replay(app, std::move(debate_id), since, until, std::move(done)),
                       asio::detached);
    };
}

}  // namespace aragora::app
