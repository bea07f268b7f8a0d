//! Every integration test, in one binary: one link instead of one per
//! file (CI compiles from scratch on 2 cores). Each file is a module; run
//! one with `cargo test --test it <module>::`. Shared parts: `common`
//! (real services on free loopback ports) and the `*_support` modules.

// A test or bench binary has no API: its `pub` only shares between its modules.
#![allow(unreachable_pub)]

mod common;
mod dashboards_support;
mod faults_support;
mod http_support;
mod meters_support;
mod modbus_support;
mod outbox_support;
mod replay_support;
mod status_support;
mod tools_support;

mod city_sink;
mod city_sink_mqtt;
mod cli_check;
mod config_examples;
mod dashboards;
mod demo;
mod dependency_audit;
mod disk_full;
mod e2e_mqtt;
mod e2e_reload;
mod faults_e2e;
mod faults_inputs;
mod harness;
mod hj212_sink;
mod hj212_sink_faults;
mod hj212_sink_platform;
mod hj212_source;
mod hj212_source_faults;
mod hj212_source_station;
mod http_flood;
mod http_server;
mod indicators_config;
mod indicators_infra;
mod indicators_late;
mod indicators_noise;
mod indicators_water;
mod influxdb_sink;
mod influxdb_sink_faults;
mod lineproto_roundtrip;
mod meters;
mod meters_bench;
mod meters_e2e;
mod modbus_bench;
mod modbus_drop_oldest;
mod modbus_faults;
mod modbus_profiles;
mod modbus_refusals;
mod modbus_rtu;
mod modbus_tcp;
mod mqtt;
mod mqtt5;
mod mqtt_config;
mod mqtt_tls;
mod outbox;
mod outbox_crash;
mod outbox_disk_full;
mod pipeline;
mod pipeline_faults;
mod profiles;
mod replay;
mod simulate;
mod status_page;
mod tools_errors;
mod tools_probe;
mod tools_probe_meters;
mod tools_scan;
mod tools_sniff;
