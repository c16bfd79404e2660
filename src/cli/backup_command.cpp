#include "cli/backup_command.hpp"

#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "app/content_encryption.hpp"
#include "cli/backup_offsite.hpp"
#include "cli/backup_output.hpp"
#include "cli/exit_codes.hpp"
#include "common/clock.hpp"
#include "common/json_access.hpp"
#include "common/json_text.hpp"
#include "common/logging.hpp"
#include "common/time.hpp"
#include "config/settings.hpp"
#include "ops/backup_manager.hpp"
#include "ops/backup_setup.hpp"

namespace aragora::cli {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using common::ErrorCode;

// Bad input (a wrong id, flag or path) is 2; anything that went wrong doing it is 1.
int ExitFor(const common::Error& e) {
    switch (e.code) {
        case ErrorCode::kValidation:
        case ErrorCode::kBadRequest:
        case ErrorCode::kNotFound:
            return kExitUsage;
        default:
            return kExitFailed;
    }
}

int Fail(const common::Error& e) { return Complain(ExitFor(e), e.message); }

void PrintJson(const json::object& o) { std::cout << common::SerializeJson(o) << "\n"; }

struct Args {
    std::string backup_dir;  // -d/--backup-dir (-o/--output for create)
    std::string database;    // create -d/--database
    bool json = false;
    bool no_compress = false;
    bool skip_verify = false;
    bool incremental = false;
    bool dry_run = false;
    bool force = false;
    bool skip_restore_test = false;
    bool comprehensive = false;
    bool offsite = false;       // create --offsite
    bool remote = false;        // list --remote
    bool from_offsite = false;  // restore --from-offsite
    std::string notes;
    std::string id;
    std::string output;  // restore target
    std::string status;
    int limit = 20;
    int keep_daily = -1, keep_weekly = -1, keep_monthly = -1;
};

struct Opened {
    config::Settings settings;
    std::unique_ptr<ops::BackupManager> manager;
};

const common::Clock& Clock() {
    static const common::SystemClock clock;
    return clock;
}

common::Result<Opened> Open(const Args& a) {
    auto settings = config::LoadSettings(config::ProcessEnv(), config::RunMode::kLocalCli);
    if (!settings) return settings.error();
    if (auto logging = common::SetupLogging(settings->log); !logging) return logging.error();
    auto options = ops::BackupOptionsFromSettings(*settings);
    if (!options) return options.error();
    auto cipher = app::ConfiguredFieldCipher(*settings);
    if (!cipher) return cipher.error();
    options->content_cipher = std::move(*cipher);
    if (!a.backup_dir.empty()) options->backup_dir = a.backup_dir;
    options->compression = !a.no_compress;
    options->verify_after_backup = !a.skip_verify;
    if (a.keep_daily >= 0) options->keep_daily = a.keep_daily;
    if (a.keep_weekly >= 0) options->keep_weekly = a.keep_weekly;
    if (a.keep_monthly >= 0) options->keep_monthly = a.keep_monthly;
    auto engine = ops::MakeConfiguredBackupEngine(*settings, a.database);
    if (!engine) return engine.error();
    auto manager = ops::BackupManager::Open(std::move(*options), std::move(*engine), Clock());
    if (!manager) return manager.error();
    return Opened{std::move(*settings), std::move(*manager)};
}

// The receipt keys line of an unencrypted backup: the operator must keep them.
std::string KeysNotice(const ops::BackupMetadata& m) {
    if (!m.keys_file.empty() || m.receipt_keys.empty()) return {};
    std::string ids;
    for (const auto& k : m.receipt_keys) ids += (ids.empty() ? "" : ", ") + k.key_id;
    return "Receipt signing keys are not in this (unencrypted) backup: keep the key(s) with id " +
           ids + " to verify its receipts after a restore";
}

int Create(const Args& a) {
    auto opened = Open(a);
    if (!opened) return Fail(opened.error());
    auto& manager = *opened->manager;
    if (!a.json) {
        std::cout << "Creating " << (a.incremental ? "incremental" : "full") << " backup...\n"
                  << "  Source: " << manager.engine().SourceLocation() << "\n"
                  << "  Destination: " << manager.options().backup_dir.string() << "\n";
    }
    if (a.dry_run) {
        if (a.json) {
            PrintJson(json::object{{"dry_run", true},
                                   {"source_path", manager.engine().SourceLocation()},
                                   {"backup_dir", manager.options().backup_dir.string()}});
        } else {
            std::cout << "\nDry run: nothing written.\n";
        }
        return kExitOk;
    }
    ProgressLine progress(!a.json);
    ops::CreateOptions co;
    co.backup_type = a.incremental ? "incremental" : "full";
    co.notes = a.notes;
    co.progress = progress.Callback();
    auto m = manager.Create(co);
    progress.Done();
    if (!m) return Fail(m.error());
    std::string notice = KeysNotice(*m);
    if (a.offsite) {
        auto offsite = OpenOffsite(opened->settings);
        if (!offsite) return Fail(offsite.error());
        auto url = UploadToOffsite(*offsite, manager, *m);
        if (!url) {
            return Complain(kExitFailed, "backup " + m->id +
                                             " was created but the offsite upload "
                                             "failed: " +
                                             url.error().message);
        }
        if (auto updated = manager.Get(m->id)) m = std::move(updated);
        if (!a.json) std::cout << "Uploaded to " << *url << "\n";
    }
    if (a.json) {
        PrintJson(json::object{{"backup", m->ToJson()},
                               {"message", notice.empty() ? "Backup created" : notice}});
    } else {
        std::cout << "\nBackup created successfully!\n"
                  << "  ID: " << m->id << "\n"
                  << "  Path: " << m->backup_path << "\n"
                  << "  Size: " << FormatSize(m->compressed_size_bytes) << "\n"
                  << "  Duration: " << FormatDuration(m->duration_seconds) << "\n"
                  << "  Status: " << ops::ToString(m->status) << "\n"
                  << "  Verified: " << (m->verified ? "Yes" : "No") << "\n"
                  << "  Tables: " << m->tables.size() << "\n";
        if (!notice.empty()) std::cout << notice << "\n";
    }
    if (a.skip_verify || m->verified) return kExitOk;
    return Complain(kExitFailed,
                    "backup " + m->id + " was written but failed verification: " +
                        m->error.value_or("see `aragora backup verify " + m->id + "`"));
}

int ListRemote(const Opened& opened, bool as_json) {
    auto offsite = OpenOffsite(opened.settings);
    if (!offsite) return Fail(offsite.error());
    auto remote = offsite->ListRemoteBackups();
    if (!remote) return Fail(remote.error());
    if (as_json) {
        json::array items;
        for (const auto& r : *remote) {
            json::object o{{"file_name", r.file_name},
                           {"key", r.key},
                           {"size_bytes", r.size_bytes},
                           {"last_modified", r.last_modified}};
            o["manifest_entry"] =
                r.manifest_entry ? json::value(*r.manifest_entry) : json::value(nullptr);
            items.emplace_back(std::move(o));
        }
        PrintJson(json::object{{"remote", std::move(items)}, {"url", offsite->RemoteUrl("")}});
        return kExitOk;
    }
    std::printf("%-10s %-20s %-10s %s\n", "ID", "Uploaded", "Size", "File");
    for (const auto& r : *remote) {
        const std::string id =
            r.manifest_entry ? common::StringFieldOr(*r.manifest_entry, "id", "?") : "?";
        std::printf("%-10s %-20s %-10s %s\n", id.c_str(), r.last_modified.substr(0, 19).c_str(),
                    FormatSize(r.size_bytes).c_str(), r.file_name.c_str());
    }
    std::cout << "\nTotal: " << remote->size() << " offsite backups in " << offsite->RemoteUrl("")
              << "\n";
    return kExitOk;
}

int List(const Args& a) {
    auto opened = Open(a);
    if (!opened) return Fail(opened.error());
    if (a.remote) return ListRemote(*opened, a.json);
    ops::ListFilter filter;
    filter.limit = a.limit;
    if (!a.status.empty()) {
        filter.status = ops::ParseBackupStatus(a.status);
        if (!filter.status) {
            return Complain(kExitUsage,
                            "--status must be pending, in_progress, completed, verified, failed "
                            "or expired");
        }
    }
    auto page = opened->manager->List(filter);
    if (!page) return Fail(page.error());
    if (a.json) {
        PrintJson(page->ToJson());
        return kExitOk;
    }
    if (page->items.empty()) {
        std::cout << "No backups in " << opened->manager->options().backup_dir.string() << "\n";
        return kExitOk;
    }
    std::printf("%-10s %-20s %-12s %-10s %-10s\n", "ID", "Created", "Type", "Size", "Status");
    std::uint64_t total = 0;
    for (const auto& m : page->items) {
        const std::string created = common::FormatIso8601(m.created_at).substr(0, 19);
        std::printf("%-10s %-20s %-12s %-10s %-10s\n", m.id.c_str(),
                    (created.substr(0, 10) + " " + created.substr(11)).c_str(),
                    m.backup_type.c_str(), FormatSize(m.compressed_size_bytes).c_str(),
                    std::string(ops::ToString(m.status)).c_str());
        total += m.compressed_size_bytes;
    }
    std::cout << "\nTotal: " << page->total << " backups\nTotal size: " << FormatSize(total)
              << "\n";
    return kExitOk;
}

int Show(const Args& a) {
    auto opened = Open(a);
    if (!opened) return Fail(opened.error());
    auto m = opened->manager->Get(a.id);
    if (!m) return Fail(m.error());
    if (a.json) {
        PrintJson(m->ToJson());
        return kExitOk;
    }
    std::cout << "Backup " << m->id << "\n"
              << "  Created: " << common::FormatIso8601(m->created_at) << "\n"
              << "  Kind: " << m->kind << " (" << m->backup_type << ")\n"
              << "  Status: " << ops::ToString(m->status) << "\n"
              << "  Source: " << m->source_path << "\n"
              << "  Path: " << m->backup_path << "\n"
              << "  Size: " << FormatSize(m->compressed_size_bytes) << " (database "
              << FormatSize(m->size_bytes) << ")\n"
              << "  Checksum: " << m->checksum << "\n"
              << "  Encrypted: " << (m->encrypted ? "Yes" : "No") << "\n"
              << "  Schema version: " << m->schema_version << "\n"
              << "  Verified: "
              << (m->verified ? "Yes (" + common::FormatIso8601(*m->verified_at) + ")" : "No")
              << "\n";
    for (const auto& [table, rows] : m->row_counts)
        std::cout << "  " << table << ": " << rows << " rows\n";
    for (const auto& k : m->receipt_keys)
        std::cout << "  Receipt key: " << k.key_id << " (" << k.algorithm << ")\n";
    if (m->error) std::cout << "  Error: " << *m->error << "\n";
    return kExitOk;
}

int Verify(const Args& a) {
    auto opened = Open(a);
    if (!opened) return Fail(opened.error());
    auto& manager = *opened->manager;
    auto m = manager.Get(a.id);
    if (!m) return Fail(m.error());
    ProgressLine progress(!a.json);
    if (a.comprehensive) {
        auto v = manager.VerifyComprehensive(m->id, progress.Callback());
        progress.Done();
        if (!v) return Fail(v.error());
        if (a.json) {
            PrintJson(v->ToJson());
        } else {
            PrintVerification(v->basic);
        }
        return v->basic.verified ? kExitOk : kExitFailed;
    }
    auto v = manager.Verify(m->id, !a.skip_restore_test, progress.Callback());
    progress.Done();
    if (!v) return Fail(v.error());
    if (a.json) {
        PrintJson(v->ToJson());
    } else {
        PrintVerification(*v);
    }
    return v->verified ? kExitOk : kExitFailed;
}

int Restore(const Args& a) {
    auto opened = Open(a);
    if (!opened) return Fail(opened.error());
    auto& manager = *opened->manager;
    common::Result<ops::BackupMetadata> m = common::MakeError(ErrorCode::kInternal, "");
    if (a.from_offsite) {
        auto offsite = OpenOffsite(opened->settings);
        if (!offsite) return Fail(offsite.error());
        m = FetchFromOffsite(*offsite, manager, a.id);
    } else {
        m = manager.Get(a.id);
    }
    if (!m) return Fail(m.error());
    // The original's default target is the database the backup was made from.
    std::string target = a.output.empty() ? m->source_path : a.output;
    if (manager.engine().Kind() == "sqlite")
        target = fs::absolute(target).lexically_normal().string();
    ProgressLine progress(!a.json);
    ops::RestoreOptions ro;
    ro.target = target;
    ro.dry_run = a.dry_run;
    ro.force = a.force;
    ro.skip_verify = a.skip_verify;
    ro.progress = progress.Callback();
    auto r = manager.Restore(m->id, ro);
    progress.Done();
    if (!r) return Fail(r.error());
    if (a.json) {
        PrintJson(r->ToJson());
    } else {
        std::cout << r->message << "\n";
        if (!r->missing_key_ids.empty()) {
            std::string ids;
            for (const auto& k : r->missing_key_ids) ids += (ids.empty() ? "" : ", ") + k;
            std::cout << "Receipts in it are signed with key id(s) " << ids
                      << " that this configuration does not have: set "
                         "ARAGORA_RECEIPT_SIGNING_KEY (or _PREVIOUS) before starting serve on "
                         "it\n";
        }
    }
    if (!r->verified) return a.json ? kExitFailed : Complain(kExitFailed, r->message);
    return kExitOk;
}

int Cleanup(const Args& a) {
    auto opened = Open(a);
    if (!opened) return Fail(opened.error());
    auto& manager = *opened->manager;
    auto preview = manager.Cleanup(true);
    if (!preview) return Fail(preview.error());
    if (a.dry_run || preview->backup_ids.empty()) {
        if (a.json) {
            PrintJson(preview->ToJson());
        } else {
            std::cout << (preview->backup_ids.empty()
                              ? "Nothing to delete"
                              : "Would delete " + std::to_string(preview->backup_ids.size()) +
                                    " backup(s):")
                      << "\n";
            for (const auto& id : preview->backup_ids) std::cout << "  " << id << "\n";
        }
        return kExitOk;
    }
    if (!a.force) {
        if (a.json) return Complain(kExitUsage, "cleanup with --json needs --force or --dry-run");
        std::cout << "Will delete " << preview->backup_ids.size() << " backup(s):\n";
        for (const auto& id : preview->backup_ids) std::cout << "  " << id << "\n";
        std::cout << "Proceed with cleanup? [y/N] " << std::flush;
        std::string answer;
        std::getline(std::cin, answer);
        if (answer != "y" && answer != "Y" && answer != "yes") {
            std::cout << "Cancelled.\n";
            return kExitOk;
        }
    }
    auto done = manager.Cleanup(false);
    if (!done) return Fail(done.error());
    if (a.json) {
        PrintJson(done->ToJson());
    } else {
        std::cout << "Deleted " << done->backup_ids.size() << " backup(s)\n";
        for (const auto& e : done->errors) std::cout << "  error: " << e << "\n";
    }
    return done->errors.empty() ? kExitOk : kExitFailed;
}

int Drill(const Args& a) {
    auto opened = Open(a);
    if (!opened) return Fail(opened.error());
    auto& manager = *opened->manager;
    std::string id;
    if (!a.id.empty()) {
        auto m = manager.Get(a.id);
        if (!m) return Fail(m.error());
        id = m->id;
    }
    ProgressLine progress(!a.json);
    auto r = manager.Drill(id, progress.Callback());
    progress.Done();
    if (!r) return Fail(r.error());
    if (a.json) {
        PrintJson(r->ToJson());
    } else {
        std::cout << "DR drill " << r->drill_id << " of backup " << r->backup_id << ": "
                  << (r->status == "passed" ? "PASSED" : "FAILED") << "\n"
                  << "  RPO (backup age): " << FormatDuration(r->rpo_seconds) << "\n"
                  << "  RTO (measured restore): " << FormatDuration(r->rto_seconds) << "\n"
                  << "  Tables: " << r->tables_verified << ", rows: " << r->rows_verified
                  << ", receipts verified: " << r->receipts_verified << "\n";
        for (const auto& e : r->errors) std::cout << "  error: " << e << "\n";
    }
    return r->status == "passed" ? kExitOk : kExitFailed;
}

void BackupDirOption(CLI::App* cmd, Args& a) {
    cmd->add_option("-d,--backup-dir", a.backup_dir, "Backup directory (default BACKUP_DIR)");
}

void JsonFlag(CLI::App* cmd, Args& a) { cmd->add_flag("-j,--json", a.json, "JSON output"); }

void KeepOptions(CLI::App* cmd, Args& a) {
    cmd->add_option("--keep-daily", a.keep_daily, "Daily backups to keep (default 7)");
    cmd->add_option("--keep-weekly", a.keep_weekly, "Weekly backups to keep (default 4)");
    cmd->add_option("--keep-monthly", a.keep_monthly, "Monthly backups to keep (default 3)");
}

}  // namespace

void AddBackupCommand(CLI::App& app, int& exit_code) {
    auto* backup = app.add_subcommand("backup", "Backups: create, verify, restore, drill, cleanup");
    backup->require_subcommand(1);
    auto a = std::make_shared<Args>();

    auto* create = backup->add_subcommand("create", "Back up the configured database");
    create->add_option("-d,--database", a->database, "SQLite file (default: the configured one)");
    create->add_option("-o,--output", a->backup_dir, "Backup directory (default BACKUP_DIR)");
    create->add_flag("-i,--incremental", a->incremental, "Label it incremental (it is full)");
    create->add_flag("--no-compress", a->no_compress, "Do not gzip");
    create->add_flag("--skip-verify", a->skip_verify, "Do not verify after writing");
    create->add_option("--notes", a->notes, "Notes kept in the manifest");
    KeepOptions(create, *a);
    create->add_flag("--dry-run", a->dry_run, "Say what would be backed up, write nothing");
    create->add_flag("--offsite", a->offsite,
                     "Also upload it to ARAGORA_BACKUP_S3_BUCKET (file and manifest entry)");
    JsonFlag(create, *a);
    create->callback([&exit_code, a] { exit_code = Create(*a); });

    auto* list = backup->add_subcommand("list", "List backups, newest first");
    BackupDirOption(list, *a);
    list->add_option("-l,--limit", a->limit, "At most this many (1..1000)")->capture_default_str();
    list->add_option("--status", a->status, "Only backups with this status");
    list->add_flag("--remote", a->remote, "List the offsite copies (ARAGORA_BACKUP_S3_BUCKET)");
    JsonFlag(list, *a);
    list->callback([&exit_code, a] { exit_code = List(*a); });

    auto* show = backup->add_subcommand("show", "Show one backup's manifest entry");
    show->add_option("backup_id", a->id, "Backup id or unique prefix")->required();
    BackupDirOption(show, *a);
    JsonFlag(show, *a);
    show->callback([&exit_code, a] { exit_code = Show(*a); });

    auto* verify = backup->add_subcommand(
        "verify", "Verify a backup: checksum, restore test, every receipt (exit 1 on failure)");
    verify->add_option("backup_id", a->id, "Backup id or unique prefix")->required();
    BackupDirOption(verify, *a);
    verify->add_flag("--skip-restore-test", a->skip_restore_test, "Check the checksum only");
    verify->add_flag("--comprehensive", a->comprehensive,
                     "The comprehensive report (schema, integrity, orphans)");
    JsonFlag(verify, *a);
    verify->callback([&exit_code, a] { exit_code = Verify(*a); });

    auto* restore = backup->add_subcommand("restore", "Restore a backup into a database file");
    restore->add_option("backup_id", a->id, "Backup id or unique prefix")->required();
    BackupDirOption(restore, *a);
    restore->add_option("-o,--output", a->output,
                        "Target database (default: the one backed up; refused while serve runs)");
    restore->add_flag("-f,--force", a->force,
                      "Replace an existing target (kept as <name>.pre-restore-<UTC>)");
    restore->add_flag("--skip-verify", a->skip_verify, "Check only the checksum first");
    restore->add_flag("--dry-run", a->dry_run, "Verify and report, write nothing");
    restore->add_flag("--from-offsite", a->from_offsite,
                      "Download it from the offsite copies first (into the backup dir)");
    JsonFlag(restore, *a);
    restore->callback([&exit_code, a] { exit_code = Restore(*a); });

    auto* cleanup =
        backup->add_subcommand("cleanup", "Delete backups outside the retention policy");
    BackupDirOption(cleanup, *a);
    KeepOptions(cleanup, *a);
    cleanup->add_flag("-f,--force", a->force, "Do not ask");
    cleanup->add_flag("--dry-run", a->dry_run, "Only list what would be deleted");
    JsonFlag(cleanup, *a);
    cleanup->callback([&exit_code, a] { exit_code = Cleanup(*a); });

    auto* drill = backup->add_subcommand(
        "drill", "DR drill: verify the newest verified backup, measure RPO and RTO");
    drill->add_option("backup_id", a->id, "Backup id or prefix (default: newest verified)");
    BackupDirOption(drill, *a);
    JsonFlag(drill, *a);
    drill->callback([&exit_code, a] { exit_code = Drill(*a); });
}

}  // namespace aragora::cli
