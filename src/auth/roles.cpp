#include "auth/roles.hpp"

#include <boost/json/array.hpp>

namespace aragora::auth {

std::optional<Role> ParseRole(std::string_view name) {
    if (name == "viewer") return Role::kViewer;
    if (name == "member") return Role::kMember;
    if (name == "admin") return Role::kAdmin;
    if (name == "owner") return Role::kOwner;
    return std::nullopt;
}

std::string_view RoleName(Role role) {
    switch (role) {
        case Role::kViewer:
            return "viewer";
        case Role::kMember:
            return "member";
        case Role::kAdmin:
            return "admin";
        case Role::kOwner:
            return "owner";
    }
    return "viewer";
}

const std::vector<Role>& AllRoles() {
    static const std::vector<Role> kRoles = {Role::kViewer, Role::kMember, Role::kAdmin,
                                             Role::kOwner};
    return kRoles;
}

bool RoleAllows(Role role, Permission permission) {
    switch (permission) {
        case Permission::kRead:
        case Permission::kManageOwnKeys:
            return true;
        case Permission::kDebateCreate:
        case Permission::kDebateCancelOwn:
            return role >= Role::kMember;
        case Permission::kDebateCancelAny:
        case Permission::kAdmin:
        case Permission::kManageUsers:
            return role >= Role::kAdmin;
        case Permission::kOwner:
            return role >= Role::kOwner;
    }
    return false;
}

std::string_view PermissionName(Permission p) {
    switch (p) {
        case Permission::kRead:
            return "read";
        case Permission::kDebateCreate:
            return "debate:create";
        case Permission::kDebateCancelOwn:
            return "debate:cancel:own";
        case Permission::kDebateCancelAny:
            return "debate:cancel:any";
        case Permission::kManageOwnKeys:
            return "keys:own";
        case Permission::kAdmin:
            return "admin";
        case Permission::kManageUsers:
            return "users:manage";
        case Permission::kOwner:
            return "owner";
    }
    return "read";
}

const std::vector<Permission>& AllPermissions() {
    static const std::vector<Permission> kPermissions = {
        Permission::kRead,
        Permission::kDebateCreate,
        Permission::kDebateCancelOwn,
        Permission::kDebateCancelAny,
        Permission::kManageOwnKeys,
        Permission::kAdmin,
        Permission::kManageUsers,
        Permission::kOwner,
    };
    return kPermissions;
}

boost::json::object PermissionTableJson() {
    boost::json::object table;
    for (Role role : AllRoles()) {
        boost::json::array permissions;
        for (Permission p : AllPermissions()) {
            if (RoleAllows(role, p)) permissions.emplace_back(PermissionName(p));
        }
        table[RoleName(role)] = std::move(permissions);
    }
    return table;
}

bool CanAssignRole(Role actor, Role new_role, Role current_role) {
    if (actor == Role::kOwner) return true;
    if (actor == Role::kAdmin) return new_role != Role::kOwner && current_role != Role::kOwner;
    return false;
}

}  // namespace aragora::auth
