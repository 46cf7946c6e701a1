//! A fake plugin table for the tests, shaped like the built-in plugins (the real ones live in
//! plugins/ and are not linked here).

#![allow(dead_code)]

use std::collections::BTreeMap;

use ganbench_plugin_api::ParamSpec;

fn gan_common(lr: f64, n_critic: i64) -> Vec<ParamSpec> {
    vec![
        ParamSpec::float("lr_g", lr, 1e-6, 1.0, "generator learning rate (Adam)"),
        ParamSpec::float("lr_d", lr, 1e-6, 1.0, "discriminator learning rate (Adam)"),
        ParamSpec::float("beta1", 0.5, 0.0, 0.999, "Adam β₁, both networks"),
        ParamSpec::int("batch_size", 256, 1, 65_536, "rows per update"),
        ParamSpec::int(
            "n_critic",
            n_critic,
            1,
            100,
            "discriminator updates per generator update",
        ),
    ]
}

/// `gan`, `wgan-gp`, `sngan` and `vae`, with a subset of their real parameters.
pub fn catalog() -> BTreeMap<String, Vec<ParamSpec>> {
    let mut gan = gan_common(2e-4, 1);
    gan.push(ParamSpec::choice(
        "loss",
        "ns",
        &["ns", "minimax"],
        "generator loss",
    ));
    gan.push(ParamSpec::bool(
        "spectral_norm",
        false,
        "spectral norm on D",
    ));
    // A stability fix, off by default: trial keys leave it out at that default.
    gan.push(
        ParamSpec::float("r1_gamma", 0.0, 0.0, 1e4, "R1 penalty weight")
            .in_group("regularization")
            .keyless_default(),
    );
    let mut wgan = gan_common(1e-4, 5);
    wgan.push(ParamSpec::float(
        "lambda",
        10.0,
        0.0,
        1000.0,
        "gradient penalty weight",
    ));
    let mut sngan = gan_common(2e-4, 1);
    sngan.push(ParamSpec::choice(
        "loss",
        "hinge",
        &["hinge", "ns"],
        "hinge or non-saturating",
    ));
    let vae = vec![
        ParamSpec::float("lr", 1e-3, 1e-6, 1.0, "learning rate (Adam)"),
        ParamSpec::int("batch_size", 256, 1, 65_536, "rows per update"),
        ParamSpec::int("latent_dim", 2, 1, 4096, "dimension of z"),
        ParamSpec::float("beta", 1.0, 0.0, 1000.0, "weight of the KL term"),
    ];
    BTreeMap::from([
        ("gan".to_string(), gan),
        ("wgan-gp".to_string(), wgan),
        ("sngan".to_string(), sngan),
        ("vae".to_string(), vae),
    ])
}
