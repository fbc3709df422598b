"""The phrase bank for photographs: sentence templates per aspect and level, verdicts, and distortion words.

Photo wording (scene, detail, tones, colours; no anatomy, no HU) on the same five level words and the same
intensity ladder as the CT bank (`vliqa.text.phrases`): severe/extreme -> 0, marked/strong/heavy -> 1,
moderate/clearly -> 2, slight/mild/faint -> 3, no/excellent -> 4. `vliqa.text.parse` compiles these templates
beside the CT ones, so a description `describe_photo` writes is read back to its levels exactly; a test checks
that no filled template is claimed by a template of another aspect or level. Slots: ``{cause}`` (" from JPEG
compression" or "") and ``{artifact}`` (a plural noun phrase such as "8x8 blocking artefacts from JPEG
compression").
"""

from __future__ import annotations

from dataclasses import dataclass

PHOTO_ASPECT_TEMPLATES: dict[str, dict[int, tuple[str, ...]]] = {
    "noise": {
        4: ("The photo is clean, with no visible noise.",
            "There is no noticeable noise or grain in the picture.",
            "Noise is imperceptible; smooth areas of the photo look clean."),
        3: ("A slight grain{cause} is visible in smooth areas of the photo.",
            "Noise is mild{cause} and barely noticeable in the picture.",
            "Faint noise{cause} shows in flat regions of the photo."),
        2: ("Moderate noise{cause} gives the photo a visibly grainy look.",
            "Noise is clearly visible{cause}, speckling smooth areas of the picture.",
            "The picture is moderately noisy{cause}, and fine detail is partly masked."),
        1: ("Heavy noise{cause} speckles the whole photo and masks fine detail.",
            "The picture is strongly noisy{cause}; colour speckle covers smooth areas.",
            "Marked noise{cause} dominates the smooth areas of the photo."),
        0: ("Severe noise{cause} swamps the photo; its content is hard to make out.",
            "Noise is extreme{cause}, burying the picture in speckle.",
            "The photo is overwhelmed by noise{cause}."),
    },
    "artifacts": {
        4: ("The photo shows no compression or processing artefacts.",
            "There are no blocking, banding or pixelation artefacts in the picture.",
            "The picture is free of visible artefacts."),
        3: ("Faint {artifact} are visible on close inspection of the photo.",
            "There are slight {artifact}, hardly noticeable in the picture.",
            "Mild {artifact} appear along edges in the picture."),
        2: ("Moderate {artifact} are clearly visible in the photo.",
            "Noticeable {artifact} spoil smooth areas of the picture.",
            "{artifact} are evident and distract from the content of the photo."),
        1: ("Strong {artifact} disfigure much of the photo.",
            "Marked {artifact} cover the picture and break up its detail.",
            "The photo is badly damaged by {artifact}."),
        0: ("Severe {artifact} destroy the photo; its content is barely recognisable.",
            "{artifact} dominate the whole picture.",
            "Overwhelming {artifact} leave the photo unusable."),
    },
    "sharpness": {
        4: ("The photo is sharp, with crisp edges and fine detail.",
            "Focus is excellent; edges and fine structures in the picture are crisp.",
            "Fine detail is rendered sharply across the picture."),
        3: ("The photo is slightly soft{cause}, but detail is still clear.",
            "Sharpness is mildly reduced{cause}; fine structures lose a little crispness in the picture.",
            "Edges are a little soft{cause}, with fine detail of the photo mostly kept."),
        2: ("The photo is moderately blurred{cause}; fine detail is smeared.",
            "Edges in the picture are clearly soft{cause}, and fine structures are lost.",
            "Moderate blur{cause} softens the whole picture."),
        1: ("The photo is strongly blurred{cause}; only large shapes remain distinct.",
            "Heavy blur{cause} smears the edges and erases fine detail in the picture.",
            "Marked blurring{cause} leaves the picture badly out of focus."),
        0: ("The photo is completely blurred{cause}; no detail can be made out.",
            "Severe blur{cause} turns the picture into shapeless patches.",
            "All sharpness is lost{cause}; even large shapes in the photo are smeared."),
    },
    "contrast": {
        4: ("Contrast and colours of the photo are natural and well balanced.",
            "Exposure and contrast are excellent, with rich, natural colours in the picture.",
            "Tones are well exposed, with deep shadows, clean highlights and natural colour."),
        3: ("Contrast is slightly off{cause}, but tones and colours of the photo still look natural.",
            "Tones are mildly flattened{cause}; colours in the picture are a little off.",
            "A slight loss of tonal balance{cause} is visible in the picture."),
        2: ("Contrast and colour are moderately degraded{cause}; the photo looks dull.",
            "Tones are clearly off{cause}, and the picture looks washed out or murky.",
            "Moderate tonal problems{cause} flatten the picture."),
        1: ("Contrast and colour are poor{cause}; much of the picture is washed out or lost in shadow.",
            "Tones are badly distorted{cause}, and the colours of the photo look unnatural.",
            "Marked tonal distortion{cause} hides much of the content of the photo."),
        0: ("Contrast is destroyed{cause}; the picture is almost uniformly white, black or grey.",
            "Severe tonal distortion{cause} leaves the content of the photo barely visible.",
            "No usable contrast is left in the picture{cause}."),
    },
    "texture": {
        4: ("Textures in the photo look natural, with fine detail intact.",
            "Surface textures in the picture are natural and detailed.",
            "Fine texture is fully preserved across the photo."),
        3: ("Fine textures in the photo are slightly simplified{cause}.",
            "Texture detail is mildly reduced{cause}, but surfaces in the picture look natural.",
            "A slight loss of fine texture{cause} is visible on close inspection of the photo."),
        2: ("Fine textures in the photo are moderately degraded{cause}; surfaces look flat or blocky.",
            "Texture detail is clearly reduced{cause}, and surfaces in the picture look artificial.",
            "Moderate texture loss{cause} makes surfaces in the photo look unnatural."),
        1: ("Fine textures in the photo are largely lost{cause}; surfaces look smeared or blocky.",
            "Texture detail is badly damaged{cause}, giving the picture an artificial look.",
            "Marked texture loss{cause} flattens most surfaces in the photo."),
        0: ("No natural texture remains in the photo{cause}.",
            "Texture is destroyed{cause}; surfaces in the picture are flat patches or blocks.",
            "Severe texture loss{cause} leaves only flat, artificial surfaces in the photo."),
    },
}

#: What each level means for a photograph (the CT scale's words, `vliqa.core.LEVEL_NAMES`, with photo meanings).
PHOTO_LEVEL_MEANINGS = {
    0: "the content can hardly be made out",
    1: "distortions dominate the picture",
    2: "distortions are clearly visible",
    3: "minor flaws do not spoil the picture",
    4: "the photo looks clean and natural",
}

#: The closing verdict; {word} level name, {n} level, {meaning} PHOTO_LEVEL_MEANINGS text.
PHOTO_VERDICTS: tuple[str, ...] = (
    "Overall quality: {word} ({n}/4) — {meaning}.",
    "Overall, the photo's quality is {word} ({n}/4): {meaning}.",
    "Overall verdict: {word} quality, scored {n}/4; {meaning}.",
    "In summary, the overall quality of the photo is {word} ({n} of 4), as {meaning}.",
)

#: Artefact phrase for an impaired artifacts aspect whose cause is unknown.
GENERIC_PHOTO_ARTIFACT = ("compression artefacts", "processing artefacts")


@dataclass(frozen=True)
class PhotoDistortionPhrase:
    """The words for one photo distortion: what it is, what caused it, its artefacts, and how to find it in text."""

    name: str
    noun: str
    causes: tuple[str, ...]
    #: plural noun phrase for artefact sentences, or "" when the family makes no artefact
    artifact: str
    #: regex finding a mention in normalised (lower-case, "artefact", "quantise", "grey") text
    pattern: str


PHOTO_DISTORTION_PHRASES: dict[str, PhotoDistortionPhrase] = {
    p.name: p
    for p in (
        PhotoDistortionPhrase("noise", "Gaussian noise", ("sensor noise", "random Gaussian noise"), "",
                              r"gaussian noise|sensor noise"),
        PhotoDistortionPhrase("blur", "Gaussian blur", ("defocus", "a Gaussian blur"), "",
                              r"defocus|gaussian blur"),
        PhotoDistortionPhrase("jpeg", "JPEG compression artefacts", ("JPEG compression", "lossy JPEG compression"),
                              "8x8 blocking artefacts from JPEG compression", r"\bjpeg\b(?![- ]?2000)"),
        PhotoDistortionPhrase("jpeg2000", "JPEG 2000 compression artefacts", ("JPEG 2000 compression",),
                              "ringing artefacts around edges from JPEG 2000 compression", r"jpeg[- ]?2000"),
        PhotoDistortionPhrase("contrast_decrease", "a contrast reduction", ("a contrast reduction",), "",
                              r"contrast reduction"),
        PhotoDistortionPhrase("colour_shift", "a colour shift", ("a colour cast", "a colour shift"), "",
                              r"colou?r (?:cast|shift)"),
        PhotoDistortionPhrase("overexposure", "overexposure", ("overexposure",), "", r"over-?exposure"),
        PhotoDistortionPhrase("underexposure", "underexposure", ("underexposure",), "", r"under-?exposure"),
        PhotoDistortionPhrase("pixelate", "pixelation", ("pixelation",), "square pixelation blocks", r"pixelat"),
        PhotoDistortionPhrase("quantise", "colour quantisation (banding)", ("colour quantisation",),
                              "banding and false contours from colour quantisation", r"quantis|banding"),
    )
}
