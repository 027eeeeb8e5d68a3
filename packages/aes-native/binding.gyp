{
  "targets": [
    {
      "target_name": "vigil_aes",
      "sources": ["src/aes.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "libraries": ["-lcrypto"]
    }
  ]
}
