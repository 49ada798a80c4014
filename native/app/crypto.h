// The hashes and ciphers application dissection needs (JA3's MD5, JA4's
// SHA-256, QUIC Initial protection: HKDF over HMAC-SHA256, AES-128-ECB for
// header protection, AES-128-GCM), from OpenSSL's EVP API: node exports
// OpenSSL's symbols to addons; builds outside node link libcrypto. Contexts
// are made once per dissector (one thread) and reused.
#pragma once
#include <cstddef>
#include <cstdint>

typedef struct evp_md_ctx_st EVP_MD_CTX;
typedef struct evp_md_st EVP_MD;
typedef struct evp_cipher_st EVP_CIPHER;
typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;

namespace flowmaster {
namespace app {

class Crypto {
 public:
  Crypto();
  ~Crypto();
  Crypto(const Crypto&) = delete;
  Crypto& operator=(const Crypto&) = delete;

  // Streaming digest: begin, update..., then the first `hex` hex digits of it.
  void begin_md5();
  void begin_sha256();
  void update(const void* p, size_t n);
  void finish_hex(char* out, size_t hex);

  // HKDF-Expand-Label (RFC 8446 §7.1) with an empty context, from a 32-byte
  // SHA-256 secret; out_len <= 32.
  void expand_label(const uint8_t secret[32], const char* label, uint8_t* out, size_t out_len);
  // HKDF-Extract: HMAC-SHA256(salt, ikm).
  void extract(const uint8_t* salt, size_t salt_len, const uint8_t* ikm, size_t ikm_len, uint8_t out[32]);
  // One AES-128 block (ECB).
  bool aes_block(const uint8_t key[16], const uint8_t in[16], uint8_t out[16]);
  // AES-128-GCM: decrypts `in` (ciphertext then the 16-byte tag) into out;
  // false when the tag does not check.
  bool gcm_open(const uint8_t key[16], const uint8_t iv[12], const uint8_t* aad, size_t aad_len, const uint8_t* in,
                size_t in_len, uint8_t* out);

 private:
  void hmac(const uint8_t* key, size_t key_len, const uint8_t* msg, size_t msg_len, uint8_t out[32]);
  void digest(const void* a, size_t a_len, const void* b, size_t b_len, uint8_t out[32]);

  // Fetched once: OpenSSL 3 looks an algorithm up (locks, name maps) at every
  // init given the legacy EVP_sha256() and friends, and in every HMAC().
  EVP_MD* md5_;
  EVP_MD* sha256_;
  EVP_CIPHER* aes_ecb_;
  EVP_CIPHER* aes_gcm_;
  EVP_MD_CTX* md_;
  EVP_CIPHER_CTX* ecb_;
  EVP_CIPHER_CTX* gcm_;
};

}  // namespace app
}  // namespace flowmaster
