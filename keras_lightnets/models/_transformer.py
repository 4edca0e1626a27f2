"""The builder of the transformer families (ViT, Swin): models/_family.py's Family and
what they need beyond it.

- A static input size by default, with the classifier or without (Family's
  static_default="always"): the position embedding (ViT) and the window masks (Swin)
  are built for the size.
- `poolings`: pooling modes of the family's own besides None, "avg" and "max" (ViT's
  "token", the class token); the graph reads the mode as `family_pooling`.
- `default_out_strides(knobs)`: what out_strides=None means (ViT: its one stride, the
  patch size).
"""

import dataclasses
from typing import Callable, Optional, Tuple

from keras_lightnets.models._family import Family


@dataclasses.dataclass(frozen=True)
class TransformerFamily(Family):
    poolings: Tuple[str, ...] = ()
    default_out_strides: Optional[Callable] = None

    static_default: str = "always"

    def _build(self, args):
        args = dict(args)
        if args["out_strides"] is None and self.default_out_strides:
            args["out_strides"] = self.default_out_strides({k: args[k] for k in self.knobs})
        own = args["pooling"] in self.poolings
        args["family_pooling"] = args["pooling"] if own else None
        args["pooling"] = None if own else args["pooling"]
        return super()._build(args)

