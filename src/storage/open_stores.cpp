#include "storage/open_stores.hpp"

#include <chrono>
#include <filesystem>
#include <system_error>

#include "storage/postgres/pg_content_targets.hpp"
#include "storage/postgres/pg_dsn.hpp"
#include "storage/postgres/pg_store.hpp"
#include "storage/sqlite/sqlite_auth_store.hpp"
#include "storage/sqlite/sqlite_content_targets.hpp"
#include "storage/sqlite/sqlite_db.hpp"
#include "storage/sqlite/sqlite_store.hpp"

namespace aragora::storage {
namespace {

bool IsPostgres(const config::StorageSettings& s) {
    return s.backend == config::DbBackend::kPostgres;
}

common::Result<PgPoolOptions> PoolOptions(const config::StorageSettings& s) {
    auto dsn = BuildPgDsn(s.postgres_dsn, s.postgres_password);
    if (!dsn) return dsn.error();
    PgPoolOptions o;
    o.dsn = *dsn;
    o.pool_size = s.pool_size;
    o.max_overflow = s.pool_overflow;
    o.command_timeout = std::chrono::seconds(s.command_timeout_seconds);
    o.recycle = std::chrono::seconds(s.pool_recycle_seconds);
    return o;
}

void CreateParentDirectory(const std::string& path) {
    std::error_code ec;
    const auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
}

}  // namespace

common::Result<OpenedStores> OpenPlainStores(const config::StorageSettings& settings,
                                             bool migrate) {
    OpenedStores out;
    if (IsPostgres(settings)) {
        auto options = PoolOptions(settings);
        if (!options) return options.error();
        auto opened = OpenPgStores(*options, migrate);
        if (!opened) return opened.error();
        out.store = std::move(opened->store);
        out.auth = std::move(opened->auth);
        out.keys = std::move(opened->keys);
        out.pg_pool = std::move(opened->pool);
        out.backend = "postgresql";
        out.location = RedactPgDsn(options->dsn);
        return out;
    }
    CreateParentDirectory(settings.sqlite_path);
    auto opened = OpenSqliteStores({settings.sqlite_path}, migrate);
    if (!opened) return opened.error();
    out.store = std::move(opened->store);
    out.auth = std::move(opened->auth);
    out.keys = std::move(opened->keys);
    out.backend = "sqlite";
    out.location = settings.sqlite_path;
    return out;
}

common::Status ApplyContentEncryption(OpenedStores& out, const config::StorageSettings& settings,
                                      const ContentEncryption& encryption) {
    if (settings.encrypt_debate_content && !encryption.cipher) {
        return common::MakeError(common::ErrorCode::kValidation, kEncryptionKeyMissing,
                                 "ARAGORA_ENCRYPT_DEBATE_CONTENT");
    }
    ContentCipherOptions cipher_options;
    cipher_options.seal_writes = settings.encrypt_debate_content;
    cipher_options.failures = encryption.failures;
    out.store = WrapWithContentCipher(std::move(out.store), encryption.cipher, cipher_options);
    out.cipher = encryption.cipher;
    if (!encryption.cipher) return {};
    if (out.pg_pool) {
        out.content_targets =
            MakePgContentTargets(out.pg_pool, encryption.cipher, encryption.failures);
    } else if (sqlite::IsPlainFilePath(settings.sqlite_path)) {
        auto targets = OpenSqliteContentTargets({settings.sqlite_path}, encryption.cipher,
                                                encryption.failures);
        if (!targets) return targets.error();
        out.content_targets = std::move(*targets);
    }
    return {};
}

common::Result<OpenedStores> OpenConfiguredStores(const config::StorageSettings& settings,
                                                  bool migrate,
                                                  const ContentEncryption& encryption) {
    if (settings.encrypt_debate_content && !encryption.cipher) {
        return common::MakeError(common::ErrorCode::kValidation, kEncryptionKeyMissing,
                                 "ARAGORA_ENCRYPT_DEBATE_CONTENT");
    }
    auto out = OpenPlainStores(settings, migrate);
    if (!out) return out.error();
    if (auto applied = ApplyContentEncryption(*out, settings, encryption); !applied) {
        return applied.error();
    }
    return out;
}

common::Result<MigrationStatus> CheckConfiguredMigrations(const config::StorageSettings& settings,
                                                          std::string* location) {
    if (!IsPostgres(settings)) {
        if (location) *location = settings.sqlite_path;
        return CheckSqliteMigrations(settings.sqlite_path);
    }
    auto options = PoolOptions(settings);
    if (!options) return options.error();
    if (location) *location = RedactPgDsn(options->dsn);
    auto pool = PgPool::Create(*options);
    if (!pool) return pool.error();
    return CheckPgMigrations(**pool);
}

common::Result<MigrationStatus> ApplyConfiguredMigrations(const config::StorageSettings& settings,
                                                          std::string* location) {
    if (!IsPostgres(settings)) {
        if (location) *location = settings.sqlite_path;
        CreateParentDirectory(settings.sqlite_path);
        return ApplySqliteMigrations(settings.sqlite_path);
    }
    auto options = PoolOptions(settings);
    if (!options) return options.error();
    if (location) *location = RedactPgDsn(options->dsn);
    auto pool = PgPool::Create(*options);
    if (!pool) return pool.error();
    return ApplyPgMigrations(**pool);
}

}  // namespace aragora::storage
