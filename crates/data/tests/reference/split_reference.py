"""Independent reference for ganbench's train/held-out split (crates/data/src/images/split.rs),
written from the published algorithms with the Python standard library only:

* rand_core's `seed_from_u64`: PCG32 (multiplier 6364136223846793005, increment
  11634580027462260723, XSH-RR output) fills the 32-byte seed, 4 bytes at a time, little-endian;
* ChaCha with 8 rounds (Bernstein 2008), 256-bit key = the seed, 64-bit block counter from 0 and
  64-bit stream 0, output words taken in block order; a u64 is two consecutive words, low first;
* a Fisher–Yates shuffle of 0..total, for i from total-1 down to 1, swapping i with
  j = (u * (i + 1)) >> 64; the held-out set is the first `held` entries, sorted.

Run: python3 split_reference.py   (prints what crates/data/tests/images.rs pins)
"""

M32 = 0xFFFFFFFF
M64 = 0xFFFFFFFFFFFFFFFF
SPLIT_SEED = int.from_bytes(b"gb:split", "big")


def pcg32_seed(state):
    seed = b""
    for _ in range(8):
        state = (state * 6364136223846793005 + 11634580027462260723) & M64
        xorshifted = (((state >> 18) ^ state) >> 27) & M32
        rot = state >> 59
        x = ((xorshifted >> rot) | (xorshifted << ((32 - rot) & 31))) & M32
        seed += x.to_bytes(4, "little")
    return seed


def rotl(x, n):
    return ((x << n) | (x >> (32 - n))) & M32


def quarter(s, a, b, c, d):
    s[a] = (s[a] + s[b]) & M32; s[d] = rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & M32; s[b] = rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & M32; s[d] = rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & M32; s[b] = rotl(s[b] ^ s[c], 7)


def chacha8_words(seed):
    key = [int.from_bytes(seed[i:i + 4], "little") for i in range(0, 32, 4)]
    constants = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    counter = 0
    while True:
        init = constants + key + [counter & M32, counter >> 32, 0, 0]
        s = list(init)
        for _ in range(4):  # 8 rounds = 4 double rounds
            quarter(s, 0, 4, 8, 12); quarter(s, 1, 5, 9, 13)
            quarter(s, 2, 6, 10, 14); quarter(s, 3, 7, 11, 15)
            quarter(s, 0, 5, 10, 15); quarter(s, 1, 6, 11, 12)
            quarter(s, 2, 7, 8, 13); quarter(s, 3, 4, 9, 14)
        for w, i in zip(s, init):
            yield (w + i) & M32
        counter += 1


def u64s(seed):
    words = chacha8_words(seed)
    while True:
        lo = next(words)
        hi = next(words)
        yield lo | (hi << 32)


def held_out_positions(total, held):
    rng = u64s(pcg32_seed(SPLIT_SEED))
    order = list(range(total))
    for i in range(total - 1, 0, -1):
        j = (next(rng) * (i + 1)) >> 64
        order[i], order[j] = order[j], order[i]
    return sorted(order[:held])


if __name__ == "__main__":
    print("held_out_positions(10, 3) =", held_out_positions(10, 3))
    print("held_out_positions(1000, 8) =", held_out_positions(1000, 8))
    print("held_out_positions(10000, 1000)[:8] =", held_out_positions(10000, 1000)[:8])
