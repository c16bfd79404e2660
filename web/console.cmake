# The web console (web/README.md): web/build.mjs bundles web/ with esbuild (web/package.json,
# installed by scripts/install-deps.sh) into ${CMAKE_BINARY_DIR}/web: content-hashed
# assets/ and index.html. `aragora serve` finds it there (api/console.hpp), `make install`
# copies it to share/aragora/web. Without node or web/node_modules the console is not
# built (a message says so) and the build of the binary is unaffected.
set(ARAGORA_CONSOLE_BUILD_DIR ${CMAKE_BINARY_DIR}/web)
find_program(ARAGORA_NODE node)
# Re-checked when the lock file changes (npm ci after a configure: touch it or re-run cmake).
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/web/package-lock.json)
if(ARAGORA_NODE AND EXISTS ${CMAKE_SOURCE_DIR}/web/node_modules/esbuild/package.json)
    file(GLOB_RECURSE aragora_console_sources CONFIGURE_DEPENDS
        ${CMAKE_SOURCE_DIR}/web/src/*.js ${CMAKE_SOURCE_DIR}/web/src/*.css
        ${CMAKE_SOURCE_DIR}/web/*.css ${CMAKE_SOURCE_DIR}/web/*.html ${CMAKE_SOURCE_DIR}/web/*.svg)
    add_custom_command(
        OUTPUT ${ARAGORA_CONSOLE_BUILD_DIR}/index.html
        COMMAND ${ARAGORA_NODE} ${CMAKE_SOURCE_DIR}/web/build.mjs --outdir ${ARAGORA_CONSOLE_BUILD_DIR}
        DEPENDS ${aragora_console_sources} ${CMAKE_SOURCE_DIR}/web/build.mjs
                ${CMAKE_SOURCE_DIR}/web/package-lock.json
        COMMENT "Building the web console (esbuild) into ${ARAGORA_CONSOLE_BUILD_DIR}"
        VERBATIM)
    add_custom_target(aragora_console ALL DEPENDS ${ARAGORA_CONSOLE_BUILD_DIR}/index.html)
else()
    message(STATUS "web console: not built (needs node and web/node_modules: scripts/install-deps.sh)")
endif()
