# ctest -L deploy: deploy/kubernetes, deploy/systemd, `make install` + the runbook's rollback,
# deploy/scripts and the binary's sd_notify, each run by the tool its users run (no docker;
# the image and compose tests are `make test-deploy`'s). Included from tests/CMakeLists.txt.
set(DEPLOY_TESTS ${CMAKE_CURRENT_SOURCE_DIR}/deploy)
find_program(ARAGORA_NODE node)
if(NOT ARAGORA_NODE)
    set(ARAGORA_NODE node)  # the test fails naming it: run scripts/install-deps.sh
endif()

# Kubernetes: schemas (kubernetes-models from tests/tools) + consistency, probes and the
# custom HPA's metrics against a live serve; the checker's own broken-copy selftest; and
# `kubectl kustomize` when kubectl is installed (not a Debian package: skipped otherwise).
add_test(NAME deploy.k8s_manifests
         COMMAND ${ARAGORA_NODE} ${CMAKE_SOURCE_DIR}/tests/tools/k8s_check.mjs
                 ${CMAKE_SOURCE_DIR}/deploy/kubernetes ${CMAKE_SOURCE_DIR}/src/api/routes.cpp
                 $<TARGET_FILE:aragora>)
add_test(NAME deploy.k8s_check_selftest
         COMMAND ${ARAGORA_NODE} ${CMAKE_SOURCE_DIR}/tests/tools/k8s_check.mjs --selftest
                 ${CMAKE_SOURCE_DIR}/deploy/kubernetes ${CMAKE_SOURCE_DIR}/src/api/routes.cpp)
add_test(NAME deploy.k8s_kustomize_render
         COMMAND ${DEPLOY_TESTS}/kustomize_render.sh ${CMAKE_SOURCE_DIR}/deploy/kubernetes)
set_tests_properties(deploy.k8s_kustomize_render PROPERTIES SKIP_RETURN_CODE 77)

set_tests_properties(deploy.k8s_manifests deploy.k8s_check_selftest deploy.k8s_kustomize_render
    PROPERTIES LABELS deploy TIMEOUT 180)

# systemd: `systemd-analyze verify` on the units as `make install` lays them out (see the
# script for why a temporary prefix), and the settings the runbooks rely on.
add_test(NAME deploy.systemd_verify
         COMMAND ${DEPLOY_TESTS}/systemd_verify.sh ${CMAKE_SOURCE_DIR} $<TARGET_FILE:aragora>)
# sd_notify as systemd receives it: a notify socket the test binds, serve and worker.
add_test(NAME deploy.sd_notify_serve
         COMMAND ${Python3_EXECUTABLE} ${DEPLOY_TESTS}/notify_test.py $<TARGET_FILE:aragora> serve)
add_test(NAME deploy.sd_notify_worker
         COMMAND ${Python3_EXECUTABLE} ${DEPLOY_TESTS}/notify_test.py $<TARGET_FILE:aragora> worker)
# `make install` twice, the operational runbook's rollback followed line by line, receipts.
add_test(NAME deploy.install_rollback
         COMMAND ${Python3_EXECUTABLE} ${DEPLOY_TESTS}/install_rollback_test.py
                 ${CMAKE_SOURCE_DIR} $<TARGET_FILE:aragora>
                 ${CMAKE_SOURCE_DIR}/../shared/spec/operational-runbook.md)
# deploy/scripts: shellcheck, then run against a live serve.
file(GLOB DEPLOY_SCRIPTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/deploy/scripts/*.sh)
find_program(ARAGORA_SHELLCHECK shellcheck)
if(NOT ARAGORA_SHELLCHECK)
    set(ARAGORA_SHELLCHECK shellcheck)
endif()
add_test(NAME deploy.scripts_shellcheck
         COMMAND ${ARAGORA_SHELLCHECK} ${DEPLOY_SCRIPTS} ${CMAKE_SOURCE_DIR}/scripts/install-release.sh
                 ${DEPLOY_TESTS}/systemd_verify.sh ${DEPLOY_TESTS}/kustomize_render.sh)
add_test(NAME deploy.scripts_against_serve
         COMMAND ${Python3_EXECUTABLE} ${DEPLOY_TESTS}/scripts_test.py
                 ${CMAKE_SOURCE_DIR} $<TARGET_FILE:aragora>)
set_tests_properties(deploy.systemd_verify deploy.sd_notify_serve deploy.sd_notify_worker
    deploy.install_rollback deploy.scripts_shellcheck deploy.scripts_against_serve
    PROPERTIES LABELS deploy TIMEOUT 300)

# The backup CronJobs' shell commands, run as their pods run them, against the binary.
add_test(NAME deploy.k8s_backup_jobs
         COMMAND ${Python3_EXECUTABLE} ${DEPLOY_TESTS}/k8s_jobs_test.py
                 ${CMAKE_SOURCE_DIR}/deploy/kubernetes $<TARGET_FILE:aragora>)
set_tests_properties(deploy.k8s_backup_jobs PROPERTIES LABELS deploy TIMEOUT 300)

# deploy/.env.template lists every variable the sources read; the check's own self-test.
# (The image and compose checks need Docker: `make test-deploy`, tests/deploy/docker_test.py.)
add_test(NAME deploy.env_template_lists_every_variable
         COMMAND ${Python3_EXECUTABLE} ${DEPLOY_TESTS}/env_template_test.py ${CMAKE_SOURCE_DIR})
add_test(NAME deploy.env_template_check_self_test
         COMMAND ${Python3_EXECUTABLE} ${DEPLOY_TESTS}/env_template_test.py ${CMAKE_SOURCE_DIR}
                 --self-test)
set_tests_properties(deploy.env_template_lists_every_variable
                     deploy.env_template_check_self_test PROPERTIES LABELS deploy TIMEOUT 60)
