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
