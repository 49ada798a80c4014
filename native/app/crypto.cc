#include "crypto.h"

#include <openssl/evp.h>

#include <cstring>
#include <new>

namespace flowmaster {
namespace app {

Crypto::Crypto()
    : md5_(EVP_MD_fetch(nullptr, "MD5", nullptr)),
      sha256_(EVP_MD_fetch(nullptr, "SHA256", nullptr)),
      aes_ecb_(EVP_CIPHER_fetch(nullptr, "AES-128-ECB", nullptr)),
      aes_gcm_(EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr)),
      md_(EVP_MD_CTX_new()),
      ecb_(EVP_CIPHER_CTX_new()),
      gcm_(EVP_CIPHER_CTX_new()) {
  if (!md5_ || !sha256_ || !aes_ecb_ || !aes_gcm_ || !md_ || !ecb_ || !gcm_) {
    this->~Crypto();
    throw std::bad_alloc();
  }
}

Crypto::~Crypto() {
  EVP_MD_CTX_free(md_);
  EVP_CIPHER_CTX_free(ecb_);
  EVP_CIPHER_CTX_free(gcm_);
  EVP_MD_free(md5_);
  EVP_MD_free(sha256_);
  EVP_CIPHER_free(aes_ecb_);
  EVP_CIPHER_free(aes_gcm_);
}

void Crypto::begin_md5() { EVP_DigestInit_ex(md_, md5_, nullptr); }
void Crypto::begin_sha256() { EVP_DigestInit_ex(md_, sha256_, nullptr); }

// SHA-256 of a | b.
void Crypto::digest(const void* a, size_t a_len, const void* b, size_t b_len, uint8_t out[32]) {
  unsigned int n = 0;
  if (EVP_DigestInit_ex(md_, sha256_, nullptr) != 1 || EVP_DigestUpdate(md_, a, a_len) != 1 ||
      (b_len && EVP_DigestUpdate(md_, b, b_len) != 1) || EVP_DigestFinal_ex(md_, out, &n) != 1)
    std::memset(out, 0, 32);
}

// HMAC-SHA256 (RFC 2104) for keys of at most one block (64 bytes), as QUIC's are.
void Crypto::hmac(const uint8_t* key, size_t key_len, const uint8_t* msg, size_t msg_len, uint8_t out[32]) {
  uint8_t pad[64] = {};
  std::memcpy(pad, key, key_len < 64 ? key_len : 64);
  for (uint8_t& b : pad) b ^= 0x36;
  uint8_t inner[32];
  digest(pad, 64, msg, msg_len, inner);
  for (uint8_t& b : pad) b ^= 0x36 ^ 0x5c;
  digest(pad, 64, inner, 32, out);
}
void Crypto::update(const void* p, size_t n) {
  if (n) EVP_DigestUpdate(md_, p, n);
}

void Crypto::finish_hex(char* out, size_t hex) {
  uint8_t d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(md_, d, &n) != 1) n = 0;
  static const char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < hex; i++) {
    uint8_t b = i / 2 < n ? d[i / 2] : 0;
    out[i] = kHex[i % 2 ? b & 15 : b >> 4];
  }
}

void Crypto::extract(const uint8_t* salt, size_t salt_len, const uint8_t* ikm, size_t ikm_len, uint8_t out[32]) {
  hmac(salt, salt_len, ikm, ikm_len, out);
}

// HKDF-Expand with one block (out_len <= 32): T(1) = HMAC(secret, info | 0x01),
// info = length (u16), "tls13 " + label (u8 length), context (empty).
void Crypto::expand_label(const uint8_t secret[32], const char* label, uint8_t* out, size_t out_len) {
  uint8_t info[2 + 1 + 6 + 64 + 1 + 1];
  size_t l = std::strlen(label);
  if (l > 64) l = 64;
  size_t k = 0;
  info[k++] = uint8_t(out_len >> 8);
  info[k++] = uint8_t(out_len);
  info[k++] = uint8_t(6 + l);
  std::memcpy(info + k, "tls13 ", 6);
  k += 6;
  std::memcpy(info + k, label, l);
  k += l;
  info[k++] = 0;     // context
  info[k++] = 0x01;  // block counter
  uint8_t t[32];
  hmac(secret, 32, info, k, t);
  std::memcpy(out, t, out_len);
}

bool Crypto::aes_block(const uint8_t key[16], const uint8_t in[16], uint8_t out[16]) {
  int n = 0;
  return EVP_EncryptInit_ex(ecb_, aes_ecb_, nullptr, key, nullptr) == 1 &&
         EVP_CIPHER_CTX_set_padding(ecb_, 0) == 1 && EVP_EncryptUpdate(ecb_, out, &n, in, 16) == 1 && n == 16;
}

bool Crypto::gcm_open(const uint8_t key[16], const uint8_t iv[12], const uint8_t* aad, size_t aad_len, const uint8_t* in,
                      size_t in_len, uint8_t* out) {
  if (in_len < 16) return false;
  size_t ct = in_len - 16;
  int n = 0;
  if (EVP_DecryptInit_ex(gcm_, aes_gcm_, nullptr, key, iv) != 1) return false;
  if (EVP_DecryptUpdate(gcm_, nullptr, &n, aad, int(aad_len)) != 1) return false;
  if (ct && EVP_DecryptUpdate(gcm_, out, &n, in, int(ct)) != 1) return false;
  if (EVP_CIPHER_CTX_ctrl(gcm_, EVP_CTRL_GCM_SET_TAG, 16, const_cast<uint8_t*>(in + ct)) != 1) return false;
  return EVP_DecryptFinal_ex(gcm_, out + ct, &n) == 1;
}

}  // namespace app
}  // namespace flowmaster
