#pragma once

// Roles, permissions and the fixed table between them. Pure functions, no state.

#include <boost/json/object.hpp>
#include <optional>
#include <string_view>
#include <vector>

namespace aragora::auth {

// Ordered by power: a later role holds every permission of an earlier one.
enum class Role { kViewer, kMember, kAdmin, kOwner };

// "viewer", "member", "admin", "owner" exactly (lowercase); nullopt otherwise.
std::optional<Role> ParseRole(std::string_view name);
std::string_view RoleName(Role role);
// Every role in order of power (viewer first).
const std::vector<Role>& AllRoles();

enum class Permission {
    kRead,             // GET any debate/receipt/agent/stats route
    kDebateCreate,     // POST debates
    kDebateCancelOwn,  // cancel debates the principal created
    kDebateCancelAny,  // cancel anyone's debates
    kManageOwnKeys,    // create/list/revoke own API keys, update own profile
    kAdmin,            // system/*, admin/*, debug/*, audit, reset-circuit, all usage
    kManageUsers,      // add/remove users, change roles
    kOwner,            // irreversible operations: delete backups, restore, retention cleanup
};

// viewer: kRead, kManageOwnKeys. member: + kDebateCreate, kDebateCancelOwn.
// admin: + kDebateCancelAny, kAdmin, kManageUsers. owner: everything (+ kOwner).
bool RoleAllows(Role role, Permission permission);

// "read", "debate:create", "debate:cancel:own", "debate:cancel:any", "keys:own", "admin",
// "users:manage", "owner".
std::string_view PermissionName(Permission p);
// Every permission in declaration order.
const std::vector<Permission>& AllPermissions();

// {"viewer": ["read","keys:own"], "member": [...], "admin": [...], "owner": [...]}: roles in
// order of power, permissions in AllPermissions() order. Published in the OpenAPI document.
boost::json::object PermissionTableJson();

// Whether `actor` may give a user whose role is `current_role` the role `new_role`. An owner
// may do anything; an admin may set viewer/member/admin on non-owners only (never grants
// owner, never touches an owner); members and viewers may assign nothing.
bool CanAssignRole(Role actor, Role new_role, Role current_role);

}  // namespace aragora::auth
