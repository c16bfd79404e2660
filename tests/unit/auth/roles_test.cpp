// Roles and permissions: names, the role table, the OpenAPI permission table and the
// rule for who may assign which role.

#include "auth/roles.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace aragora::auth {
namespace {

TEST(RolesTest, ParseAndNameRoundTrip) {
    for (Role role : AllRoles()) {
        auto parsed = ParseRole(RoleName(role));
        ASSERT_TRUE(parsed.has_value());
        EXPECT_EQ(*parsed, role);
    }
    EXPECT_EQ(RoleName(Role::kViewer), "viewer");
    EXPECT_EQ(RoleName(Role::kMember), "member");
    EXPECT_EQ(RoleName(Role::kAdmin), "admin");
    EXPECT_EQ(RoleName(Role::kOwner), "owner");
}

TEST(RolesTest, ParseIsExactAndLowercase) {
    EXPECT_FALSE(ParseRole("").has_value());
    EXPECT_FALSE(ParseRole("Admin").has_value());
    EXPECT_FALSE(ParseRole("OWNER").has_value());
    EXPECT_FALSE(ParseRole(" admin").has_value());
    EXPECT_FALSE(ParseRole("admin ").has_value());
    EXPECT_FALSE(ParseRole("superuser").has_value());
}

TEST(RolesTest, OrderedByPower) {
    EXPECT_LT(Role::kViewer, Role::kMember);
    EXPECT_LT(Role::kMember, Role::kAdmin);
    EXPECT_LT(Role::kAdmin, Role::kOwner);
}

TEST(RolesTest, PermissionTable) {
    struct Row {
        Permission p;
        bool viewer, member, admin, owner;
    };
    const Row rows[] = {
        {Permission::kRead, true, true, true, true},
        {Permission::kManageOwnKeys, true, true, true, true},
        {Permission::kDebateCreate, false, true, true, true},
        {Permission::kDebateCancelOwn, false, true, true, true},
        {Permission::kDebateCancelAny, false, false, true, true},
        {Permission::kAdmin, false, false, true, true},
        {Permission::kManageUsers, false, false, true, true},
        {Permission::kOwner, false, false, false, true},
    };
    for (const Row& row : rows) {
        SCOPED_TRACE(std::string(PermissionName(row.p)));
        EXPECT_EQ(RoleAllows(Role::kViewer, row.p), row.viewer);
        EXPECT_EQ(RoleAllows(Role::kMember, row.p), row.member);
        EXPECT_EQ(RoleAllows(Role::kAdmin, row.p), row.admin);
        EXPECT_EQ(RoleAllows(Role::kOwner, row.p), row.owner);
    }
    EXPECT_EQ(AllPermissions().size(), std::size(rows));
}

TEST(RolesTest, OwnerHasEverything) {
    for (Permission p : AllPermissions()) EXPECT_TRUE(RoleAllows(Role::kOwner, p));
}

TEST(RolesTest, PermissionNames) {
    EXPECT_EQ(PermissionName(Permission::kRead), "read");
    EXPECT_EQ(PermissionName(Permission::kDebateCreate), "debate:create");
    EXPECT_EQ(PermissionName(Permission::kDebateCancelOwn), "debate:cancel:own");
    EXPECT_EQ(PermissionName(Permission::kDebateCancelAny), "debate:cancel:any");
    EXPECT_EQ(PermissionName(Permission::kManageOwnKeys), "keys:own");
    EXPECT_EQ(PermissionName(Permission::kAdmin), "admin");
    EXPECT_EQ(PermissionName(Permission::kManageUsers), "users:manage");
    EXPECT_EQ(PermissionName(Permission::kOwner), "owner");
}

TEST(RolesTest, PermissionTableJson) {
    boost::json::object table = PermissionTableJson();
    boost::json::value expected = boost::json::parse(R"({
        "viewer": ["read", "keys:own"],
        "member": ["read", "debate:create", "debate:cancel:own", "keys:own"],
        "admin": ["read", "debate:create", "debate:cancel:own", "debate:cancel:any", "keys:own",
                  "admin", "users:manage"],
        "owner": ["read", "debate:create", "debate:cancel:own", "debate:cancel:any", "keys:own",
                  "admin", "users:manage", "owner"]
    })");
    EXPECT_EQ(boost::json::value(table), expected);
    // Roles appear in order of power.
    std::vector<std::string> keys;
    for (const auto& kv : table) keys.emplace_back(kv.key());
    EXPECT_EQ(keys, (std::vector<std::string>{"viewer", "member", "admin", "owner"}));
}

TEST(RolesTest, OwnerMayAssignAnything) {
    for (Role new_role : AllRoles()) {
        for (Role current : AllRoles()) EXPECT_TRUE(CanAssignRole(Role::kOwner, new_role, current));
    }
}

TEST(RolesTest, AdminMayNotGrantOrTouchOwner) {
    for (Role current : {Role::kViewer, Role::kMember, Role::kAdmin}) {
        EXPECT_TRUE(CanAssignRole(Role::kAdmin, Role::kViewer, current));
        EXPECT_TRUE(CanAssignRole(Role::kAdmin, Role::kMember, current));
        EXPECT_TRUE(CanAssignRole(Role::kAdmin, Role::kAdmin, current));
        EXPECT_FALSE(CanAssignRole(Role::kAdmin, Role::kOwner, current));
    }
    for (Role new_role : AllRoles()) {
        EXPECT_FALSE(CanAssignRole(Role::kAdmin, new_role, Role::kOwner));
    }
}

TEST(RolesTest, MembersAndViewersMayAssignNothing) {
    for (Role actor : {Role::kViewer, Role::kMember}) {
        for (Role new_role : AllRoles()) {
            for (Role current : AllRoles()) EXPECT_FALSE(CanAssignRole(actor, new_role, current));
        }
    }
}

}  // namespace
}  // namespace aragora::auth
