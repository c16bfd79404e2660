// The layout of these lines is part of the test input.
// clang-format off
// Not compiled: input of coawait_temporaries_test.py. Every line marked EXPECT must be
// reported by coawait_temporaries.py, and no other line.
#include <string>

namespace sample {

struct Agg {
    std::string text;
};

asio::awaitable<void> Bad(Pool& pool, std::string id, Options opts) {
    co_await pool.Run([this, id] { return Lookup(id); });  // EXPECT
    co_await pool.Run([=] { return Lookup(id); });  // EXPECT
    co_await pool.Run([copy = id] { return Lookup(copy); });  // EXPECT
    co_await pool.Run([*this] { return Lookup(); });  // EXPECT
    auto r = co_await Send(Agg{id});  // EXPECT
    co_await Send({id, 3});  // EXPECT
    const auto options = opts.hash;
    auto added = co_await pool.Run([&id,
                                    options] {  // EXPECT
        return Add(id, options);
    });
    co_return co_await pool.Run([this, &id, id2 = std::string(id)]() -> Result<int> {  // EXPECT
        return 1;
    });
    if (auto got = co_await pool.Run([id] { return Lookup(id); }); !got) {  // EXPECT
        co_return;
    }
    std::function<void()> f = [id] {};
    co_await Wrap(std::function<void()>([id] { Use(id); }));  // EXPECT
    co_await Both(co_await First(), Agg{id});  // EXPECT
    auto x = Make(Agg{id}) + co_await Next();  // EXPECT
}

}  // namespace sample
