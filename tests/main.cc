// The Catch2 runner for every suite; select one with a tag: [unit], [loop], [e2e].
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
