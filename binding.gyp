{
  "targets": [
    {
      "target_name": "flowmaster",
      "sources": [
        "native/addon.cc",
        "native/meter.cc",
        "native/offline.cc",
        "native/live.cc",
        "native/capture.cc",
        "native/reader.cc",
        "native/decode.cc",
        "native/flow_table.cc",
        "native/conn_state.cc",
        "native/filter.cc",
        "native/pcap_api.cc",
        "native/glibc_compat.cc",
        "native/bench.cc",
        "native/app/app_state.cc",
        "native/app/crypto.cc",
        "native/app/dissect.cc",
        "native/app/tls.cc",
        "native/app/cert.cc",
        "native/app/quic.cc",
        "native/app/dns.cc",
        "native/app/http.cc",
        "native/app/ssh.cc",
        "native/app/ics.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "libraries": ["-ldl"],
      # libstdc++ linked in, so a prebuilt binary made on Debian 12 (GCC 12) needs no newer
      # libstdc++ than the target has; glibc 2.34 is then the floor (native/glibc_compat.cc)
      "ldflags": ["-static-libstdc++"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O3", "-fvisibility=hidden", "-ffp-contract=off", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "xcode_settings": { "GCC_ENABLE_CPP_EXCEPTIONS": "YES" }
    }
  ]
}
