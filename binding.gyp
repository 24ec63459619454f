{
  "targets": [
    {
      "target_name": "zerohttpd",
      "sources": [
        "native/addon.cc",
        "native/net.cc",
        "native/io.cc",
        "native/poll.cc",
        "native/process.cc",
        "native/stats.cc",
        "native/uring.cc",
        "native/isolate.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "_GNU_SOURCE"],
      "cflags_cc": ["-std=gnu++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fno-exceptions"],
      "cflags_cc!": ["-fno-rtti", "-std=gnu++1y", "-std=gnu++14"]
    },
    {
      "target_name": "forksafe",
      "type": "loadable_module",
      "product_prefix": "",
      "target_conditions": [["_type=='loadable_module'", {"product_extension": "so"}]],
      "sources": ["native/forksafe.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-fPIC"],
      "ldflags": ["-ldl"]
    }
  ]
}
