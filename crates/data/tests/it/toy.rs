//! Toy 2D descriptions: centres, validation, text form and serde form.

use ganbench_data::{DataError, Dataset, Toy2d, ToyMixture};

fn ring(modes: usize, radius: f64, std: f64) -> Toy2d {
    Toy2d::Ring { modes, radius, std }
}

fn grid(side: usize, spacing: f64, std: f64) -> Toy2d {
    Toy2d::Grid { side, spacing, std }
}

fn assert_close(a: [f64; 2], b: [f64; 2]) {
    assert!(
        (a[0] - b[0]).abs() < 1e-12 && (a[1] - b[1]).abs() < 1e-12,
        "{a:?} != {b:?}"
    );
}

#[test]
fn ring8_centres_are_on_the_circle_at_multiples_of_45_degrees() {
    let centres = Toy2d::RING8.centres();
    assert_eq!(centres.len(), 8);
    let h = 2f64.sqrt();
    let expected = [
        [2.0, 0.0],
        [h, h],
        [0.0, 2.0],
        [-h, h],
        [-2.0, 0.0],
        [-h, -h],
        [0.0, -2.0],
        [h, -h],
    ];
    for (c, e) in centres.iter().zip(expected) {
        assert_close(*c, e);
    }
    assert_eq!(Toy2d::RING8.std(), 0.02);
    assert_eq!(Toy2d::RING8.mode_count(), 8);
}

#[test]
fn grid25_centres_are_the_lattice_minus4_to_4_step_2() {
    let centres = Toy2d::GRID25.centres();
    assert_eq!(centres.len(), 25);
    let axis = [-4.0, -2.0, 0.0, 2.0, 4.0];
    let expected: Vec<[f64; 2]> = axis
        .iter()
        .flat_map(|&x| axis.iter().map(move |&y| [x, y]))
        .collect();
    assert_eq!(centres, expected);
    assert_eq!(Toy2d::GRID25.std(), 0.05);
}

#[test]
fn even_grid_is_centred_on_the_origin() {
    let centres = grid(2, 2.0, 0.1).centres();
    assert_eq!(
        centres,
        vec![[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]]
    );
    assert_eq!(grid(1, 3.0, 0.1).centres(), vec![[0.0, 0.0]]);
}

#[test]
fn single_mode_ring_sits_at_radius_on_the_x_axis() {
    assert_eq!(ring(1, 1.5, 0.1).centres(), vec![[1.5, 0.0]]);
}

#[test]
fn short_names_and_parameter_forms_parse() {
    assert_eq!("ring8".parse::<Toy2d>().unwrap(), Toy2d::RING8);
    assert_eq!(" grid25 ".parse::<Toy2d>().unwrap(), Toy2d::GRID25);
    assert_eq!(
        "ring(modes=8,radius=1,std=0.01)".parse::<Toy2d>().unwrap(),
        ring(8, 1.0, 0.01)
    );
    assert_eq!(
        "grid( std = 0.05 , side=5, spacing=2.5 )"
            .parse::<Toy2d>()
            .unwrap(),
        grid(5, 2.5, 0.05)
    );
    // The parameter form of ring8 is ring8.
    assert_eq!(
        "ring(modes=8,radius=2,std=0.02)".parse::<Toy2d>().unwrap(),
        Toy2d::RING8
    );
}

#[test]
fn display_round_trips() {
    let cases = [
        Toy2d::RING8,
        Toy2d::GRID25,
        ring(8, 1.0, 0.01),
        ring(1, 0.1 + 0.2, 1e-300),
        ring(65_536, 999_999.999_999_9, 1.0 / 3.0),
        grid(7, 1e-7, 0.05),
        grid(256, 1.0, 2.0f64.sqrt()),
    ];
    for toy in cases {
        let text = toy.to_string();
        let back: Toy2d = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(back, toy, "{text}");
    }
    assert_eq!(Toy2d::RING8.to_string(), "ring8");
    assert_eq!(Toy2d::GRID25.to_string(), "grid25");
    assert_eq!(
        ring(8, 1.0, 0.01).to_string(),
        "ring(modes=8,radius=1,std=0.01)"
    );
    assert_eq!(
        grid(3, 2.5, 0.05).to_string(),
        "grid(side=3,spacing=2.5,std=0.05)"
    );
}

fn parse_err(text: &str) -> DataError {
    text.parse::<Toy2d>()
        .expect_err(&format!("`{text}` should not parse"))
}

#[test]
fn parse_errors_say_what_is_wrong_and_what_is_accepted() {
    let cases: &[(&str, &[&str])] = &[
        ("", &["empty", "ring8"]),
        (
            "ring9",
            &["unknown dataset `ring9`", "grid25", "ring(modes="],
        ),
        ("mnist(x=1)", &["unknown dataset `mnist`"]),
        ("ring(modes=8,radius=1,std=0.01", &["`)`"]),
        ("ring(modes=8,radius=(1),std=0.01)", &["parentheses"]),
        ("ring(modes=8;radius=1;std=0.01)", &["key=value"]),
        ("ring()", &["key=value"]),
        (
            "ring(modes=8,radius=1,sigma=0.01)",
            &[
                "unknown parameter `sigma` for ring",
                "`modes`, `radius`, `std`",
            ],
        ),
        (
            "ring(modes=8,modes=8,radius=1,std=0.01)",
            &["`modes` of ring is given twice"],
        ),
        (
            "grid(side=5,std=0.05)",
            &["grid needs parameter `spacing`", "`side`, `spacing`, `std`"],
        ),
        (
            "ring(modes=8.0,radius=1,std=0.01)",
            &["`8.0`", "whole number"],
        ),
        (
            "ring(modes=-1,radius=1,std=0.01)",
            &["`-1`", "whole number"],
        ),
        ("ring(modes=8,radius=one,std=0.01)", &["`one`", "a number"]),
        (
            "ring(modes=0,radius=1,std=0.01)",
            &["`modes` is 0", "1 to 65536"],
        ),
        (
            "ring(modes=8,radius=1,std=0)",
            &["`std` is 0", "finite number > 0"],
        ),
        ("ring(modes=8,radius=1,std=-0.5)", &["`std` is -0.5"]),
        ("ring(modes=8,radius=inf,std=0.1)", &["`radius` is inf"]),
        ("ring(modes=8,radius=NaN,std=0.1)", &["`radius` is NaN"]),
        (
            "grid(side=257,spacing=1,std=0.1)",
            &["`side` is 257", "1 to 256"],
        ),
        (
            "grid(side=5,spacing=2e6,std=0.1)",
            &["`spacing` is 2000000", "<= 1e6"],
        ),
    ];
    for (text, needles) in cases {
        let message = parse_err(text).to_string();
        for needle in *needles {
            assert!(
                message.contains(needle),
                "error for `{text}` is `{message}`, expected it to contain `{needle}`"
            );
        }
    }
}

#[test]
fn validate_checks_hand_built_values() {
    assert!(Toy2d::RING8.validate().is_ok());
    assert!(Toy2d::GRID25.validate().is_ok());
    assert!(ring(65_536, 1.0, 0.1).validate().is_ok());
    assert!(matches!(
        ring(65_537, 1.0, 0.1).validate(),
        Err(DataError::InvalidParam { key: "modes", .. })
    ));
    assert!(matches!(
        grid(0, 1.0, 0.1).validate(),
        Err(DataError::InvalidParam { key: "side", .. })
    ));
    assert!(matches!(
        grid(3, 1.0, f64::NAN).validate(),
        Err(DataError::InvalidParam { key: "std", .. })
    ));
    assert!(matches!(
        ToyMixture::new(ring(8, -1.0, 0.1)),
        Err(DataError::InvalidParam { key: "radius", .. })
    ));
}

#[test]
fn serde_round_trips_and_validates() {
    for toy in [Toy2d::RING8, grid(3, 0.1 + 0.2, 1e-3)] {
        let json = serde_json::to_string(&toy).unwrap();
        assert_eq!(serde_json::from_str::<Toy2d>(&json).unwrap(), toy, "{json}");
        let ron_text = ron::to_string(&toy).unwrap();
        assert_eq!(
            ron::from_str::<Toy2d>(&ron_text).unwrap(),
            toy,
            "{ron_text}"
        );
    }
    assert_eq!(
        serde_json::to_string(&Toy2d::GRID25).unwrap(),
        r#"{"grid":{"side":5,"spacing":2.0,"std":0.05}}"#
    );
    assert_eq!(
        ron::from_str::<Toy2d>("ring(modes: 8, radius: 1.0, std: 0.01)").unwrap(),
        ring(8, 1.0, 0.01)
    );

    let bad = serde_json::from_str::<Toy2d>(r#"{"ring":{"modes":0,"radius":1.0,"std":0.1}}"#)
        .unwrap_err()
        .to_string();
    assert!(bad.contains("`modes` is 0"), "{bad}");
    let unknown =
        serde_json::from_str::<Toy2d>(r#"{"ring":{"modes":8,"radius":1.0,"std":0.1,"seed":3}}"#)
            .unwrap_err()
            .to_string();
    assert!(unknown.contains("seed"), "{unknown}");
}

#[test]
fn mixture_exposes_spec_centres_and_shape() {
    let toy = ToyMixture::new(Toy2d::GRID25).unwrap();
    assert_eq!(toy.spec(), Toy2d::GRID25);
    assert_eq!(toy.centres(), Toy2d::GRID25.centres().as_slice());
    assert_eq!(toy.std(), 0.05);
    assert_eq!(toy.name(), "grid25");
    assert_eq!(toy.sample_shape(), vec![2]);
    assert_eq!(toy.example_len(), 2);
    let boxed: Box<dyn Dataset> = Box::new(toy.clone());
    assert_eq!(boxed.as_toy(), Some(&toy));
    assert_eq!(boxed.name(), "grid25");
}
