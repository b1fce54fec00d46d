# etcd_smoke_test: starts a 1-member etcd (tests/bench/etcd_cluster.sh) on free
# loopback ports, runs meridian-bench --driver etcd --workload write for 3 s
# with --verify-writes, checks it succeeded with ops > 0, and stops etcd.
# Needs /usr/bin/etcd and etcdctl (etcd-server, etcd-client).
add_test(NAME etcd_smoke_test
  COMMAND ${PROJECT_SOURCE_DIR}/tests/bench/etcd_smoke_test.sh
          ${CMAKE_BINARY_DIR}/tests/bench/meridian-bench)
set_tests_properties(etcd_smoke_test PROPERTIES LABELS integration TIMEOUT 120)
