"""The phrase bank: sentence templates per quality aspect and level, shared by `describe` and `parse`.

Templates are plain `str.format` strings over a few slots:
``{cause}`` (" from the reduced dose" or ""), ``{where}`` ("the liver"),
``{in_where}`` (" in the liver" or ""), ``{artifact}`` (a plural noun phrase such as
"streaks radiating from the metal implant"), ``{aspects}`` (a list of aspect names)
and ``{n}``/``{word}``/``{meaning}`` in verdicts. The parser turns each template into a regular
expression (slots match anything), so every template must keep enough fixed words
to say which aspect and level it stands for; a test checks that no filled template
is claimed by a template of another aspect or level.

Intensity words follow one ladder everywhere, so free text paraphrasing ours parses
too: severe/extreme -> 0, marked/strong -> 1, moderate -> 2, slight/mild/faint -> 3,
no/minimal/excellent -> 4.
"""

from __future__ import annotations

#: How aspects are named inside sentences and lists.
ASPECT_NOUNS = {"noise": "noise", "artifacts": "artefacts", "sharpness": "sharpness", "contrast": "contrast",
                "texture": "texture"}
#: Headings of the per-aspect paragraphs in report style.
ASPECT_TITLES = {"noise": "Noise", "artifacts": "Artefacts", "sharpness": "Sharpness", "contrast": "Contrast",
                 "texture": "Texture"}

# aspect -> level -> templates. Texture has two families for impaired levels: over-smoothed and coarse.
ASPECT_TEMPLATES: dict[str, dict[int, tuple[str, ...]]] = {
    "noise": {
        4: ("Image noise is low and does not affect {where}.",
            "The noise level is very low, with only a fine, unobtrusive grain over {where}.",
            "There is no appreciable noise in {where}."),
        3: ("Slight noise{cause} is present but does not hinder reading of {where}.",
            "Noise is mildly increased{cause}, with a fine grain over {where}.",
            "A faint noise grain{cause} is visible; low-contrast detail{in_where} remains assessable."),
        2: ("Moderate noise{cause} gives {where} a grainy appearance and lowers the conspicuity of subtle lesions.",
            "Noise grain is clearly visible{cause}; small low-contrast lesions{in_where} may be missed.",
            "The image is moderately noisy{cause}, which limits assessment of low-contrast detail{in_where}."),
        1: ("Noise grain is coarse{cause}; small low-contrast lesions{in_where} would be missed.",
            "Marked noise{cause} mottles {where} and masks subtle lesions.",
            "The image is strongly noisy{cause}, and low-contrast structures{in_where} are hard to see."),
        0: ("Severe noise{cause} overwhelms the image; {where} cannot be assessed.",
            "Noise is extreme{cause}: the speckle is as strong as the anatomy of {where}.",
            "The image is swamped by noise{cause}, and soft-tissue structures{in_where} are not recognisable."),
    },
    "artifacts": {
        4: ("No artefacts are seen.",
            "The image is free of streak, ring or motion artefacts.",
            "There are no visible artefacts over {where}."),
        3: ("Faint {artifact} are present but do not obscure anatomy.",
            "There are minor {artifact}, without diagnostic impact.",
            "Slight {artifact} are visible at the periphery; {where} remains clear."),
        2: ("Moderate {artifact} partly obscure {where}.",
            "{artifact} are clearly visible and degrade the depiction of {where}.",
            "Noticeable {artifact} overlie {where} and limit its assessment."),
        1: ("Marked {artifact} obscure {where}.",
            "Strong {artifact} cross {where}, hiding much of the anatomy.",
            "Prominent {artifact} degrade most of the image, including {where}."),
        0: ("Severe {artifact} obliterate {where}; the region is non-diagnostic.",
            "{artifact} dominate the whole image, and no anatomy can be assessed in {where}.",
            "Overwhelming {artifact} make {where} unreadable."),
    },
    "sharpness": {
        4: ("Edges are crisp, and fine structures in {where} are sharply depicted.",
            "Spatial resolution is excellent; vessel and organ margins are sharp.",
            "The image is sharp, with well-defined edges around {where}."),
        3: ("Edges are slightly soft{cause}, but {where} remains well defined.",
            "Sharpness is mildly reduced{cause}; small vessels are still resolved.",
            "A slight loss of sharpness{cause} is seen at the margins of {where}."),
        2: ("Edges are moderately blurred{cause}, and the margins of {where} are indistinct.",
            "Moderate blurring{cause} reduces the visibility of small vessels{in_where}.",
            "Sharpness is clearly reduced{cause}; fine structures{in_where} are smeared."),
        1: ("Marked blurring{cause} smears the margins of {where}.",
            "The image is strongly blurred{cause}, and small structures{in_where} are lost.",
            "Edges are badly smeared{cause}; organ boundaries{in_where} can barely be traced."),
        0: ("Severe blurring{cause} leaves no recognisable edges in {where}.",
            "The image is completely blurred{cause}; the outline of {where} cannot be made out.",
            "Sharpness is lost entirely{cause}, and no structure{in_where} is resolved."),
    },
    "contrast": {
        4: ("Contrast is excellent; {where} stands out clearly from surrounding tissue.",
            "Soft-tissue contrast is well preserved around {where}.",
            "Tissue contrast is high, and the boundaries of {where} are well differentiated."),
        3: ("Contrast is slightly reduced{cause}, but {where} is still well differentiated.",
            "Soft-tissue contrast is mildly lowered{cause} around {where}.",
            "There is a slight loss of contrast{cause}; differentiation of {where} is preserved."),
        2: ("Contrast is moderately reduced{cause}, so {where} is less distinct from adjacent tissue.",
            "Moderate loss of contrast{cause} flattens grey-level differences in {where}.",
            "Tissue differentiation is limited{cause}; subtle density differences{in_where} are hard to see."),
        1: ("Contrast is poor{cause}; {where} barely separates from surrounding tissue.",
            "Marked loss of contrast{cause} washes out {where}.",
            "Grey levels are strongly compressed{cause}, and soft-tissue differentiation{in_where} is largely lost."),
        0: ("Contrast is absent{cause}; {where} cannot be distinguished from its surroundings.",
            "Severe loss of contrast{cause} renders {where} flat and featureless.",
            "There is no usable tissue contrast{cause}{in_where}."),
    },
    "texture": {
        4: ("Texture is natural, with a fine, realistic grain over {where}.",
            "The tissue texture looks natural, and parenchymal detail{in_where} is intact.",
            "Parenchymal texture{in_where} is realistic and unprocessed in appearance."),
    },
}

TEXTURE_SMOOTH: dict[int, tuple[str, ...]] = {
    3: ("The texture is slightly smooth{cause}, with a faint plastic look.",
        "Texture is mildly over-smoothed{cause}; fine parenchymal detail{in_where} is mostly kept.",
        "A slightly waxy texture{cause} is seen, but parenchymal detail{in_where} remains visible."),
    2: ("The texture is waxy and over-smoothed{cause}; fine parenchymal detail{in_where} is partly lost.",
        "Texture looks plastic{cause}, as after aggressive denoising, and small structures{in_where} are flattened.",
        "Moderate over-smoothing{cause} gives {where} a blotchy, unnatural appearance."),
    1: ("The texture is waxy and markedly over-smoothed{cause}, as after aggressive denoising; "
        "fine parenchymal detail{in_where} is lost.",
        "{where} looks plastic and unnaturally smooth{cause}; its normal parenchymal texture is erased.",
        "Marked over-smoothing{cause} leaves a blotchy, painted texture{in_where}."),
    0: ("Texture is completely erased{cause}; {where} appears as flat, featureless patches.",
        "Extreme over-smoothing{cause} gives a cartoon-like image with no tissue texture{in_where}.",
        "The image is smoothed to a waxy blank{cause}: no parenchymal detail survives{in_where}."),
}

TEXTURE_COARSE: dict[int, tuple[str, ...]] = {
    3: ("Texture is slightly coarse{cause} over {where}.",
        "The tissue texture is mildly irregular{cause}, without effect on reading.",
        "A slightly grainy texture{cause} is seen{in_where}."),
    2: ("Texture is moderately coarse and irregular{cause}{in_where}.",
        "The tissue texture is grainy and uneven{cause}, obscuring fine parenchymal detail{in_where}.",
        "A moderately unnatural, uneven texture{cause} partly masks parenchymal detail{in_where}."),
    1: ("Texture is markedly coarse and irregular{cause}; parenchymal detail{in_where} is hard to judge.",
        "A heavily mottled texture{cause} replaces the normal parenchymal pattern{in_where}.",
        "The tissue texture is badly disrupted{cause}, with a grainy, uneven pattern{in_where}."),
    0: ("Texture is destroyed{cause}; {where} shows no recognisable tissue pattern.",
        "The tissue texture is entirely artificial{cause}, with no parenchymal pattern left{in_where}.",
        "No natural texture remains{cause}{in_where}; the tissue pattern is gone."),
}

#: One brief sentence for every aspect that is fine (level 4).
FINE_GROUP: tuple[str, ...] = (
    "No concerns about {aspects}.",
    "There is no visible problem with {aspects}.",
    "{aspects}: excellent, with no visible impairment.",
)

#: Clinical consequences, written after the level sentence in report style (not used to read levels).
IMPLICATIONS: dict[str, dict[int, tuple[str, ...]]] = {
    "noise": {4: ("Low-contrast detectability is not limited by noise.", "Subtle lesions would be visible."),
              3: ("Detection of subtle lesions is barely affected.", "Routine reading is not impaired."),
              2: ("Subtle hypodense lesions could be overlooked.", "Thin-section low-contrast reading is limited."),
              1: ("Only high-contrast findings can be trusted.", "A repeat or a smoother kernel should be considered."),
              0: ("No soft-tissue finding can be trusted.", "The scan would have to be repeated.")},
    "artifacts": {4: ("Nothing overlies the anatomy.", "All regions can be read."),
                  3: ("The affected region can still be read.", "They do not mimic pathology."),
                  2: ("Findings in the affected region need caution.", "They could mask or mimic small lesions."),
                  1: ("The affected region cannot be assessed reliably.", "They could easily mask pathology."),
                  0: ("The affected region is unreadable.", "No reliable finding can be made there.")},
    "sharpness": {4: ("Small vessels and fine structures are resolved.", "Margins can be measured precisely."),
                  3: ("Measurements remain reliable.", "Fine structures are still resolved."),
                  2: ("Small nodules and thin walls may be missed.", "Margin assessment is limited."),
                  1: ("Small structures cannot be assessed.", "Measurements are unreliable."),
                  0: ("No structure can be delineated.", "Morphology cannot be judged.")},
    "contrast": {4: ("Organs are easy to tell apart.", "Subtle density differences are visible."),
                 3: ("Density differences remain readable.", "Organ boundaries remain clear."),
                 2: ("Subtle enhancement differences may be missed.", "Organ boundaries are less certain."),
                 1: ("Most density differences are lost.", "Organs are hard to tell apart."),
                 0: ("No density difference can be appreciated.", "Organs cannot be told apart.")},
    "texture": {4: ("Parenchymal patterns can be judged.", "The appearance matches standard reconstruction."),
                3: ("Parenchymal patterns remain assessable.", "The change is mostly cosmetic."),
                2: ("Subtle parenchymal patterns may be hidden.", "Texture-based judgement is limited."),
                1: ("Parenchymal patterns cannot be trusted.", "The image looks artificial rather than clean."),
                0: ("No parenchymal pattern can be judged.", "The appearance is entirely artificial.")},
}

#: The closing verdict; {word} level name, {n} level, {meaning} LEVEL_MEANINGS text.
VERDICTS: tuple[str, ...] = (
    "Overall quality: {word} ({n}/4) — {meaning}.",
    "Overall, the image quality is {word} ({n}/4): {meaning}.",
    "Overall verdict: {word} quality, scored {n}/4; {meaning}.",
    "In summary, the overall quality is {word} ({n} of 4), as {meaning}.",
)

#: Report impression: what limits the image most (not used to read levels).
LIMITING: tuple[str, ...] = ("The main limitation is {aspect}.", "Quality is limited mainly by {aspect}.",
                             "The limiting aspect is {aspect}.")
NOTHING_LIMITING: tuple[str, ...] = ("No aspect limits reading.", "Nothing limits reading.")

#: Short state phrases for comparisons ("image A {state}"); texture levels 0-3 split by family as above.
STATES: dict[str, dict[int, tuple[str, ...]]] = {
    "noise": {4: ("is nearly free of noise", "shows only a fine, low noise grain"),
              3: ("shows slight noise{cause}", "has a faint noise grain{cause}"),
              2: ("shows moderate noise{cause}", "is moderately grainy{cause}"),
              1: ("shows coarse, heavy noise{cause}", "is strongly noisy{cause}"),
              0: ("is swamped by noise{cause}", "is buried in severe noise{cause}")},
    "artifacts": {4: ("is free of artefacts", "shows no artefacts"),
                  3: ("shows faint {artifact}", "has minor {artifact}"),
                  2: ("shows moderate {artifact}", "has noticeable {artifact}"),
                  1: ("shows marked {artifact}", "is crossed by strong {artifact}"),
                  0: ("is obliterated by severe {artifact}", "is dominated by {artifact}")},
    "sharpness": {4: ("has crisp edges", "is sharp"),
                  3: ("has slightly soft edges{cause}", "is mildly unsharp{cause}"),
                  2: ("is moderately blurred{cause}", "has indistinct margins{cause}"),
                  1: ("is strongly blurred{cause}", "has badly smeared edges{cause}"),
                  0: ("is completely blurred{cause}", "has lost all edges{cause}")},
    "contrast": {4: ("has excellent tissue contrast", "shows organs clearly separated"),
                 3: ("has slightly reduced contrast{cause}", "shows mildly lowered contrast{cause}"),
                 2: ("has moderately reduced contrast{cause}", "looks washed out{cause}"),
                 1: ("has poor contrast{cause}", "is markedly washed out{cause}"),
                 0: ("has no usable contrast{cause}", "is flat and featureless{cause}")},
    "texture": {4: ("keeps a natural texture", "shows realistic parenchymal texture")},
}
STATES_TEXTURE_SMOOTH: dict[int, tuple[str, ...]] = {
    3: ("is slightly smooth, with a faint plastic look{cause}",),
    2: ("is smoother but waxy{cause}", "has a plastic, over-smoothed texture{cause}"),
    1: ("is smoother but waxy{cause}: the fine texture of {where} has been erased",
        "looks unnaturally smooth and plastic{cause}"),
    0: ("has had its texture erased{cause}, leaving flat patches",),
}
STATES_TEXTURE_COARSE: dict[int, tuple[str, ...]] = {
    3: ("has a slightly coarse texture{cause}",),
    2: ("has a grainy, uneven texture{cause}",),
    1: ("has a badly disrupted, coarse texture{cause}",),
    0: ("has no natural texture left{cause}",),
}

#: "it is less noisy": why the preferred image wins on an aspect / what it gives up.
BETTER: dict[str, str] = {"noise": "it is less noisy", "artifacts": "it shows fewer artefacts",
                          "sharpness": "it is sharper", "contrast": "it has higher contrast",
                          "texture": "its texture is more natural"}
WORSE: dict[str, str] = {"noise": "it is noisier", "artifacts": "it shows more artefacts",
                         "sharpness": "it is less sharp", "contrast": "its contrast is lower",
                         "texture": "its texture is less natural"}

#: Where-words when the context names no organ.
DEFAULT_WHERE = {"abdomen": ("the abdominal organs", "the liver parenchyma"),
                 "chest": ("the mediastinum", "the lung parenchyma"),
                 "head": ("the brain parenchyma", "the grey-white matter junction"),
                 None: ("the soft tissue", "the anatomy")}
GENERIC_ARTIFACT = ("streak artefacts", "streak and shading artefacts")
