#include "cli/users_command.hpp"

#include <termios.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <iomanip>
#include <iostream>
#include <memory>
#include <string>

#include "app/content_encryption.hpp"
#include "auth/password.hpp"
#include "auth/service.hpp"
#include "cli/exit_codes.hpp"
#include "common/json_text.hpp"
#include "common/logging.hpp"
#include "common/time.hpp"
#include "config/settings.hpp"
#include "storage/open_stores.hpp"

namespace aragora::cli {
namespace {

namespace json = boost::json;

int ExitFor(const common::Error& e) {
    switch (e.code) {
        case common::ErrorCode::kValidation:
        case common::ErrorCode::kBadRequest:
            return kExitUsage;
        default:
            return kExitFailed;
    }
}

std::string NowIso() { return common::FormatIso8601(std::chrono::system_clock::now()); }

common::Result<std::unique_ptr<storage::AuthStore>> OpenAuthStore() {
    auto settings = config::LoadSettings(config::ProcessEnv(), config::RunMode::kLocalCli);
    if (!settings) return settings.error();
    if (auto logging = common::SetupLogging(settings->log); !logging) return logging.error();
    auto opened = app::OpenStores(*settings, /*migrate=*/true);
    if (!opened) return opened.error();
    return std::move(opened->auth);
}

// The password: --password, else ARAGORA_USER_PASSWORD, else one line of stdin (prompted,
// without echo, on a terminal).
std::string ReadPassword(const std::string& flag) {
    if (!flag.empty()) return flag;
    if (const char* env = std::getenv("ARAGORA_USER_PASSWORD"); env && *env) return env;
    const bool tty = ::isatty(STDIN_FILENO) == 1;
    termios old{};
    if (tty) {
        std::cerr << "Password: " << std::flush;
        ::tcgetattr(STDIN_FILENO, &old);
        termios quiet = old;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    std::string line;
    std::getline(std::cin, line);
    if (tty) {
        ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
        std::cerr << "\n";
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

void Audit(storage::AuthStore& store, const std::string& action, const std::string& target,
           const json::object& details) {
    storage::AuditEntry e;
    e.at = NowIso();
    e.actor = "cli";
    e.action = action;
    e.target = target;
    e.details_json = common::SerializeJson(details);
    if (auto r = store.AppendAudit(e); !r) {
        std::cerr << "aragora: warning: audit entry not written: " << r.error().message << "\n";
    }
}

json::object UserJson(const storage::UserRecord& u) {
    return json::object{{"id", u.id},
                        {"email", u.email},
                        {"name", u.name},
                        {"role", u.role},
                        {"org_id", u.org_id},
                        {"created_at", u.created_at},
                        {"disabled", u.disabled}};
}

struct AddArgs {
    std::string email, role = "member", name, org, password;
};

int Add(const AddArgs& a) {
    if (!auth::ParseRole(a.role)) {
        return Complain(kExitUsage, "--role must be owner, admin, member or viewer");
    }
    auto store = OpenAuthStore();
    if (!store) return Complain(ExitFor(store.error()), store.error().message);
    const std::string password = ReadPassword(a.password);
    if (password.empty()) {
        return Complain(kExitUsage,
                        "no password given (use --password, ARAGORA_USER_PASSWORD or stdin)");
    }
    auto u = auth::AddUser(**store, a.email, a.name, a.role, password, a.org, NowIso(),
                           auth::InteractiveHashOptions());
    if (!u) return Complain(ExitFor(u.error()), u.error().message);
    Audit(**store, "user_added", u->id, json::object{{"email", u->email}, {"role", u->role}});
    std::cout << "added " << u->id << " " << u->email << " (" << u->role << ")\n";
    return kExitOk;
}

int List(bool as_json) {
    auto store = OpenAuthStore();
    if (!store) return Complain(ExitFor(store.error()), store.error().message);
    auto users = (*store)->ListUsers();
    if (!users) return Complain(kExitFailed, users.error().message);
    if (as_json) {
        json::array arr;
        for (const auto& u : *users) arr.push_back(UserJson(u));
        std::cout << common::SerializeJson(json::object{{"users", std::move(arr)}}) << "\n";
        return kExitOk;
    }
    std::cout << std::left << std::setw(30) << "ID" << std::setw(34) << "EMAIL" << std::setw(9)
              << "ROLE"
              << "CREATED\n";
    for (const auto& u : *users) {
        std::cout << std::left << std::setw(30) << u.id << std::setw(34) << u.email << std::setw(9)
                  << u.role << u.created_at
                  << (auth::IsBuiltInUser(u.id) ? "  (built-in key owner)" : "") << "\n";
    }
    std::cout << users->size() << " user(s)\n";
    return kExitOk;
}

int SetRole(const std::string& who, const std::string& role) {
    auto store = OpenAuthStore();
    if (!store) return Complain(ExitFor(store.error()), store.error().message);
    auto before = auth::FindUser(**store, who);
    if (!before) return Complain(kExitFailed, before.error().message);
    auto u = auth::SetUserRole(**store, who, role, NowIso());
    if (!u) return Complain(ExitFor(u.error()), u.error().message);
    Audit(**store, "role_changed", u->id, json::object{{"from", before->role}, {"role", u->role}});
    std::cout << u->id << " " << u->email << ": " << before->role << " -> " << u->role
              << " (its sessions were ended)\n";
    return kExitOk;
}

int Remove(const std::string& who) {
    auto store = OpenAuthStore();
    if (!store) return Complain(ExitFor(store.error()), store.error().message);
    auto u = auth::RemoveUser(**store, who);
    if (!u) return Complain(ExitFor(u.error()), u.error().message);
    Audit(**store, "user_removed", u->id, json::object{{"email", u->email}});
    std::cout << "removed " << u->id << " " << u->email << " (its API keys and sessions too)\n";
    return kExitOk;
}

}  // namespace

void AddUsersCommand(CLI::App& app, int& exit_code) {
    auto* users = app.add_subcommand("users", "User accounts (roles owner, admin, member, viewer)");
    users->require_subcommand(1);

    auto add_args = std::make_shared<AddArgs>();
    auto* add = users->add_subcommand("add",
                                      "Add a user (password from --password, "
                                      "ARAGORA_USER_PASSWORD or stdin)");
    add->add_option("email", add_args->email, "Email (the login name)")->required();
    add->add_option("--role", add_args->role, "owner|admin|member|viewer")->capture_default_str();
    add->add_option("--name", add_args->name, "Display name");
    add->add_option("--org", add_args->org, "Organisation id (default: default)");
    add->add_option("--password", add_args->password, "Password (visible in ps: prefer stdin)");
    add->callback([add_args, &exit_code] { exit_code = Add(*add_args); });

    auto list_json = std::make_shared<bool>(false);
    auto* list = users->add_subcommand("list", "List users");
    list->add_flag("--json", *list_json, "JSON output");
    list->callback([list_json, &exit_code] { exit_code = List(*list_json); });

    auto role_args = std::make_shared<std::pair<std::string, std::string>>();
    auto* set_role = users->add_subcommand("set-role", "Change a user's role (ends its sessions)");
    set_role->add_option("user", role_args->first, "User id or email")->required();
    set_role->add_option("role", role_args->second, "owner|admin|member|viewer")->required();
    set_role->callback(
        [role_args, &exit_code] { exit_code = SetRole(role_args->first, role_args->second); });

    auto remove_who = std::make_shared<std::string>();
    auto* remove = users->add_subcommand("remove", "Remove a user, its API keys and sessions");
    remove->add_option("user", *remove_who, "User id or email")->required();
    remove->callback([remove_who, &exit_code] { exit_code = Remove(*remove_who); });
}

}  // namespace aragora::cli
