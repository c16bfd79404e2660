#pragma once

// Shared by the service tests: a migrated SQLite store in a fresh directory, an io_context
// run by two threads, the blocking pool and hub a LocalDebateService needs, and bounded
// waits. A fixture derives from ServiceTestBase, owns its store, clock and services, calls
// OpenStoreAndStart in SetUp and, once its services are gone, StopAndClean in TearDown.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/blocking_pool.hpp"
#include "debate/receipt_keys.hpp"
#include "events/hub.hpp"
#include "storage/sqlite/sqlite_store.hpp"

namespace aragora::service::test_support {

class ServiceTestBase : public ::testing::Test {
protected:
    // Creates the directory and its store (signing receipts with `receipt_key`) and starts
    // the I/O threads. Null, with a test failure recorded, when the store cannot be opened.
    std::unique_ptr<storage::Store> OpenStoreAndStart(const std::string& receipt_key) {
        std::string tmpl =
            (std::filesystem::temp_directory_path() / "aragora-service-XXXXXX").string();
        if (mkdtemp(tmpl.data()) == nullptr) {
            ADD_FAILURE() << "mkdtemp failed";
            return nullptr;
        }
        dir_ = tmpl;
        auto store = storage::OpenSqliteStore({dir_ + "/aragora.sqlite3"}, true);
        if (!store.ok()) {
            ADD_FAILURE() << store.error().message;
            return nullptr;
        }
        keys_.hmac_current = receipt_key;
        for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { ioc_.run(); });
        return std::move(*store);
    }

    // Stops the I/O threads and the pool and removes the directory.
    void StopAndClean() {
        guard_.reset();
        ioc_.stop();
        for (auto& t : threads_) t.join();
        threads_.clear();
        pool_.Stop();
        if (!dir_.empty()) std::filesystem::remove_all(dir_);
    }

    // Runs `op` on the io_context; a test that would hang aborts instead.
    template <typename T>
    T Await(boost::asio::awaitable<T> op) {
        auto f = boost::asio::co_spawn(ioc_, std::move(op), boost::asio::use_future);
        if (f.wait_for(await_limit_) != std::future_status::ready) {
            ADD_FAILURE() << "operation did not finish in time";
            std::abort();
        }
        return f.get();
    }

    // For state nothing signals: yields (no sleep) until `pred` holds or `limit` passes.
    static bool Eventually(const std::function<bool()>& pred,
                           std::chrono::seconds limit = std::chrono::seconds(20)) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (!pred()) {
            if (std::chrono::steady_clock::now() > deadline) return false;
            std::this_thread::yield();
        }
        return true;
    }

    std::chrono::seconds await_limit_{20};
    std::string dir_;
    debate::ReceiptKeys keys_;
    boost::asio::io_context ioc_{2};
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_ =
        boost::asio::make_work_guard(ioc_);
    std::vector<std::thread> threads_;
    common::BlockingPool pool_{2, 256};
    events::EventHub hub_{1000};
};

}  // namespace aragora::service::test_support
