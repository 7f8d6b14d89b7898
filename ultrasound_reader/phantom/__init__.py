"""phantom layer: synthetic but physically plausible ultrasound cases (PHANTOM data).

``ultrasound-reader phantom --task liver|soft-tissue --cases N --seed S --out DIR``
writes one folder per case (DICOM + case.json), ``truth.csv`` and ``phantom.json``.

Modules, in the order data flows:

* ``labels``: the documented generative model of labels and clinical factors
  (published FLL odds ratios), callable without rendering (``sample_liver``).
* ``liver`` / ``soft_tissue``: anatomy as acoustic maps (echogenicity,
  attenuation, specular reflectors) on the probe's tissue grid, plus vessels.
* ``bmode``: scatterers -> PSF -> envelope -> attenuation/TGC -> log compression
  -> scan conversion; ``motion``: breathing and probe jitter across a cine.
* ``doppler``: colour flow in a colour box; ``screen``: the scanner screen.
* ``writer``: DICOM as scanners write it; ``generate``: one case end to end, many
  in parallel; ``cli``; ``bench``; ``sheet``: a contact sheet to look at them.
"""

from ultrasound_reader.phantom.generate import Options, generate, make_liver, make_soft_tissue

__all__ = ["Options", "generate", "make_liver", "make_soft_tissue"]
