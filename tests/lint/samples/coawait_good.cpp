// The layout of these lines is part of the test input.
// clang-format off
// Not compiled: input of coawait_temporaries_test.py. coawait_temporaries.py must report
// nothing here: each form below is safe under the coroutine rule.
#include <string>

namespace sample {

enum class Role { kViewer, kAdmin };

asio::awaitable<void> Good(Pool& pool, std::string id, Store* store, int limit) {
    co_await pool.Run([this, &id] { return Lookup(id); });
    co_await pool.Run([&] { return Lookup(id); });
    co_await pool.Run([store, limit] { return store->List(limit); });
    const Role actor = Role::kAdmin;
    const std::int64_t since = 4;
    std::chrono::milliseconds delay{5};
    co_await pool.Run([store, actor, since, delay, &id] { return store->Get(id, actor); });
    auto fn = [this, id] { return Lookup(id); };  // named first
    co_await pool.Run(std::move(fn));
    co_await Send(std::string(id));          // constructor calls are not affected
    co_await Send(Agg(id));
    co_await Send({});                       // value-initialisation
    std::vector<int> v{1, 2, 3};             // not a co_await statement
    if (co_await Ready()) {
        auto later = [id] { return id; };    // in the block, not in the condition
        Agg a{id};
    }
    while (!co_await Ready()) {
        Use([id] {});
    }
    co_await pool.Run([&]() -> Result<Agg> {
        Agg inside{id};                      // the lambda's own statement, no co_await
        return inside;
    });
    auto coro = [this, id]() -> asio::awaitable<void> {
        co_await Step(&id);
    };
    co_await Send(Agg{id});  // coawait-ok: Agg is a sample of a reviewed exception
    const std::string text = "co_await Send(Agg{id}); [id] { }";
    // co_await pool.Run([id] { });  (a comment)
}

}  // namespace sample
