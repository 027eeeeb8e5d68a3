/*
 * In-place AES-128 over ranges of one buffer, with OpenSSL's EVP, for Node-API.
 *
 *   ctr(buf, key, ivs, ranges[, src])
 *     AES-128-CTR (encryption and decryption are the same). `ivs` holds 16-byte initial counter blocks
 *     back to back; `ranges` is a Float64Array of five numbers per range: offset and length in `buf`,
 *     the index of its counter block in `ivs`, the block number (from that counter block) and the byte
 *     in that block where the range's keystream starts. The counter is the whole 128-bit block,
 *     incremented as OpenSSL (and Node's 'aes-128-ctr') does. A range that starts where the previous one
 *     ended (same counter block, next keystream byte) goes on with the same cipher state.
 *     With `src`, each range has a sixth number, its offset in `src`: the bytes are read there and
 *     written to `buf` (one pass over the memory instead of a copy and then an in-place pass).
 *
 *   cbc(buf, key, iv, ranges, crypt, skip)
 *     AES-128-CBC encryption, no padding: every range (two numbers: offset, length) starts a chain at
 *     `iv`; of its whole 16-byte blocks, `crypt` are encrypted and `skip` left alone, over and over, the
 *     chain running on across the skipped blocks (ISO/IEC 23001-7 pattern encryption). A trailing
 *     partial block stays clear. crypt or skip 0: every whole block.
 *
 * Both write into `buf` (in place unless `src` is given: OpenSSL allows out == in for these modes) and
 * allocate nothing per range.
 */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include <node_api.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>

#define CHECK(call)                                                                                    \
  do {                                                                                                 \
    if ((call) != napi_ok) return NULL;                                                                \
  } while (0)

/* One explicit fetch per cipher for the process: an implicit one would run on every key set-up. */
static const EVP_CIPHER *fetched_cipher(EVP_CIPHER **slot, const char *name, const EVP_CIPHER *fallback) {
#if OPENSSL_VERSION_MAJOR >= 3
  if (!*slot) *slot = EVP_CIPHER_fetch(NULL, name, NULL);
  if (*slot) return *slot;
#else
  (void)slot;
  (void)name;
#endif
  return fallback;
}

static EVP_CIPHER *ctr_slot = NULL;
static EVP_CIPHER *cbc_slot = NULL;

static const EVP_CIPHER *cipher_ctr(void) { return fetched_cipher(&ctr_slot, "AES-128-CTR", EVP_aes_128_ctr()); }

static const EVP_CIPHER *cipher_cbc(void) { return fetched_cipher(&cbc_slot, "AES-128-CBC", EVP_aes_128_cbc()); }

/** The elements of a typed-array argument of type `want`; 0 with a pending exception otherwise. */
static int typed_of(napi_env env, napi_value v, const char *name, napi_typedarray_type want, void **data,
                    size_t *count) {
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) {
    napi_throw_type_error(env, NULL, name);
    return 0;
  }
  napi_typedarray_type type;
  if (napi_get_typedarray_info(env, v, &type, count, data, NULL, NULL) != napi_ok) return 0;
  if (type != want) {
    napi_throw_type_error(env, NULL, name);
    return 0;
  }
  return 1;
}

/** The bytes of a Uint8Array (or Buffer) argument. */
static int bytes_of(napi_env env, napi_value v, const char *name, uint8_t **data, size_t *length) {
  void *p;
  if (!typed_of(env, v, name, napi_uint8_array, &p, length)) return 0;
  *data = p;
  return 1;
}

static int doubles_of(napi_env env, napi_value v, const char *name, double **data, size_t *count) {
  void *p;
  if (!typed_of(env, v, name, napi_float64_array, &p, count)) return 0;
  *data = p;
  return 1;
}

/** A non-negative integer below 2^53 stored in a double, or -1. */
static int64_t whole(double x) {
  if (!(x >= 0 && x <= 9007199254740991.0)) return -1;
  int64_t i = (int64_t)x;
  return (double)i == x ? i : -1;
}

/** `out` = the 128-bit big-endian `iv` + `add`. */
static void counter_add(const uint8_t *iv, uint64_t add, uint8_t *out) {
  unsigned carry = 0;
  for (int i = 15; i >= 0; i--) {
    unsigned sum = iv[i] + (unsigned)(add & 0xff) + carry;
    out[i] = (uint8_t)sum;
    carry = sum >> 8;
    add >>= 8;
  }
}

static napi_value throw_range(napi_env env, EVP_CIPHER_CTX *ctx, const char *message) {
  if (ctx) EVP_CIPHER_CTX_free(ctx);
  napi_throw_range_error(env, NULL, message);
  return NULL;
}

static napi_value throw_openssl(napi_env env, EVP_CIPHER_CTX *ctx) {
  if (ctx) EVP_CIPHER_CTX_free(ctx);
  napi_throw_error(env, NULL, "OpenSSL AES failed");
  return NULL;
}

/** Encrypts `length` bytes from `in` to `out` (which may be `in`), in calls whose length fits an int. */
static int update(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t length) {
  while (length > 0) {
    int n = length > (size_t)(INT_MAX & ~15) ? (INT_MAX & ~15) : (int)length;
    int done = 0;
    if (EVP_EncryptUpdate(ctx, out, &done, in, n) != 1 || done != n) return 0;
    out += n;
    in += n;
    length -= (size_t)n;
  }
  return 1;
}

static int update_in_place(EVP_CIPHER_CTX *ctx, uint8_t *p, size_t length) {
  return update(ctx, p, p, length);
}

static napi_value ctr(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) return throw_range(env, NULL, "ctr(buf, key, ivs, ranges[, src])");
  uint8_t *buf, *key, *ivs, *src = NULL;
  size_t buf_len, key_len, ivs_len, count, src_len = 0;
  double *r;
  if (!bytes_of(env, argv[0], "buf must be a Uint8Array", &buf, &buf_len)) return NULL;
  if (!bytes_of(env, argv[1], "key must be a Uint8Array", &key, &key_len)) return NULL;
  if (!bytes_of(env, argv[2], "ivs must be a Uint8Array", &ivs, &ivs_len)) return NULL;
  if (!doubles_of(env, argv[3], "ranges must be a Float64Array", &r, &count)) return NULL;
  if (argc > 4) {
    napi_valuetype t;
    CHECK(napi_typeof(env, argv[4], &t));
    if (t != napi_undefined && !bytes_of(env, argv[4], "src must be a Uint8Array", &src, &src_len)) return NULL;
  }
  const size_t stride = src ? 6 : 5;
  if (key_len != 16) return throw_range(env, NULL, "the key must be 16 bytes");
  if (ivs_len % 16 != 0) return throw_range(env, NULL, "ivs must be 16-byte counter blocks");
  if (count % stride != 0)
    return throw_range(env, NULL, src ? "ranges must be six numbers each" : "ranges must be five numbers each");
  if (count == 0) return NULL;

  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (!ctx || EVP_EncryptInit_ex(ctx, cipher_ctr(), NULL, key, NULL) != 1) return throw_openssl(env, ctx);
  uint8_t counter[16];
  uint8_t waste[16];
  /* where the cipher state is: counter block `at_iv`, then block `at_block`, byte `at_byte` */
  int64_t at_iv = -1, at_block = 0, at_byte = 0;
  for (size_t i = 0; i < count; i += stride) {
    int64_t offset = whole(r[i]), length = whole(r[i + 1]), iv = whole(r[i + 2]);
    int64_t block = whole(r[i + 3]), byte = whole(r[i + 4]), from = src ? whole(r[i + 5]) : offset;
    if (offset < 0 || length < 0 || iv < 0 || block < 0 || byte < 0 || byte > 15 || from < 0)
      return throw_range(env, ctx, "a range holds an invalid number");
    if ((uint64_t)offset > buf_len || (uint64_t)length > buf_len - (uint64_t)offset)
      return throw_range(env, ctx, "a range lies outside the buffer");
    if (src && ((uint64_t)from > src_len || (uint64_t)length > src_len - (uint64_t)from))
      return throw_range(env, ctx, "a range lies outside the source");
    if (src && src + from != buf + offset && src + from < buf + offset + length &&
        buf + offset < src + from + length)
      return throw_range(env, ctx, "a range overlaps its source");
    if ((uint64_t)iv >= ivs_len / 16) return throw_range(env, ctx, "a range names a missing counter block");
    if (length == 0) continue;
    if (iv != at_iv || block != at_block || byte != at_byte) {
      counter_add(ivs + 16 * iv, (uint64_t)block, counter);
      if (EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, counter) != 1) return throw_openssl(env, ctx);
      if (byte > 0) {
        memset(waste, 0, sizeof waste);
        if (!update_in_place(ctx, waste, (size_t)byte)) return throw_openssl(env, ctx);
      }
    }
    if (!update(ctx, buf + offset, src ? src + from : buf + offset, (size_t)length))
      return throw_openssl(env, ctx);
    at_iv = iv;
    at_block = block + (byte + length) / 16;
    at_byte = (byte + length) % 16;
  }
  EVP_CIPHER_CTX_free(ctx);
  return NULL;
}

static napi_value cbc(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) return throw_range(env, NULL, "cbc(buf, key, iv, ranges, crypt, skip)");
  uint8_t *buf, *key, *iv;
  size_t buf_len, key_len, iv_len, count;
  double *r;
  uint32_t crypt, skip;
  if (!bytes_of(env, argv[0], "buf must be a Uint8Array", &buf, &buf_len)) return NULL;
  if (!bytes_of(env, argv[1], "key must be a Uint8Array", &key, &key_len)) return NULL;
  if (!bytes_of(env, argv[2], "iv must be a Uint8Array", &iv, &iv_len)) return NULL;
  if (!doubles_of(env, argv[3], "ranges must be a Float64Array", &r, &count)) return NULL;
  CHECK(napi_get_value_uint32(env, argv[4], &crypt));
  CHECK(napi_get_value_uint32(env, argv[5], &skip));
  if (key_len != 16) return throw_range(env, NULL, "the key must be 16 bytes");
  if (iv_len != 16) return throw_range(env, NULL, "the IV must be 16 bytes");
  if (count % 2 != 0) return throw_range(env, NULL, "ranges must be two numbers each");
  if (crypt > 255 || skip > 255) return throw_range(env, NULL, "invalid pattern");
  if (count == 0) return NULL;
  if (crypt == 0 || skip == 0) {
    crypt = 1;
    skip = 0;
  }

  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (!ctx || EVP_EncryptInit_ex(ctx, cipher_cbc(), NULL, key, NULL) != 1) return throw_openssl(env, ctx);
  EVP_CIPHER_CTX_set_padding(ctx, 0);
  const size_t period = 16 * (size_t)(crypt + skip), run = 16 * (size_t)crypt;
  for (size_t i = 0; i < count; i += 2) {
    int64_t offset = whole(r[i]), length = whole(r[i + 1]);
    if (offset < 0 || length < 0) return throw_range(env, ctx, "a range holds an invalid number");
    if ((uint64_t)offset > buf_len || (uint64_t)length > buf_len - (uint64_t)offset)
      return throw_range(env, ctx, "a range lies outside the buffer");
    size_t whole_bytes = (size_t)length & ~(size_t)15;
    if (whole_bytes == 0) continue;
    if (EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, iv) != 1) return throw_openssl(env, ctx);
    uint8_t *p = buf + offset;
    if (skip == 0) {
      if (!update_in_place(ctx, p, whole_bytes)) return throw_openssl(env, ctx);
      continue;
    }
    for (size_t o = 0; o < whole_bytes; o += period) {
      size_t n = whole_bytes - o < run ? whole_bytes - o : run;
      if (!update_in_place(ctx, p + o, n)) return throw_openssl(env, ctx);
    }
  }
  EVP_CIPHER_CTX_free(ctx);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"ctr", NULL, ctr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"cbc", NULL, cbc, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  napi_value version;
  CHECK(napi_create_string_utf8(env, OpenSSL_version(OPENSSL_VERSION), NAPI_AUTO_LENGTH, &version));
  CHECK(napi_set_named_property(env, exports, "openssl", version));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
