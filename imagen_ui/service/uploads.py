"""A click's input images sent to Replicate: each image once (however many predictions use it), all
in parallel, through the Files API with the client whose token pays for the predictions. The file's
`urls.get` becomes the input value. When an upload fails, a small image (DATA_URI_LIMIT or less, as
Replicate advises) goes inline as a data URI instead; a larger one fails the click with UploadFailed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping

from imagen_ui.replicate.client import (
    ReplicateClient,
    ReplicateError,
    UnauthenticatedError,
)
from imagen_ui.service.input_images import InputImage, data_uri

__all__ = ["DATA_URI_LIMIT", "UploadFailed", "images_in", "upload_all", "with_links"]

DATA_URI_LIMIT = 256 * 1024
_EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp", "gif": "gif"}

logger = logging.getLogger(__name__)


class UploadFailed(Exception):
    """An input image could not be sent. `image` is which; `error` the client's typed error."""

    def __init__(self, image: InputImage, error: ReplicateError) -> None:
        super().__init__(f"upload of an input image failed: {type(error).__name__}")
        self.image = image
        self.error = error


def images_in(inputs: Iterable[Mapping[str, object]]) -> list[InputImage]:
    """The distinct input images of some jobs' inputs, in order of first use."""
    found: dict[str, InputImage] = {}
    for values in inputs:
        for value in values.values():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, InputImage):
                    found.setdefault(item.sha256, item)
    return list(found.values())


async def upload_all(client: ReplicateClient, images: list[InputImage]) -> dict[str, str]:
    """sha256 -> the link to send, for every image, uploaded in parallel. Raises UploadFailed (the
    first image that could not be sent) once every upload has ended."""
    results = await asyncio.gather(*(_upload(client, image) for image in images), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return {image.sha256: link for image, link in zip(images, results)}


async def _upload(client: ReplicateClient, image: InputImage) -> str:
    # A neutral name: the person's own file name is not Replicate's business.
    name = f"input-{image.sha256[:12]}.{_EXTENSIONS[image.format]}"
    try:
        return (await client.upload_file(image.data, filename=name, content_type=image.content_type)).url
    except ReplicateError as error:
        if image.size <= DATA_URI_LIMIT and not isinstance(error, UnauthenticatedError):
            logger.info("upload failed (%s); sending a %d-byte image inline", type(error).__name__, image.size)
            return data_uri(image)
        raise UploadFailed(image, error) from None


def with_links(inputs: Mapping[str, object], links: Mapping[str, str]) -> dict[str, object]:
    """`inputs` with each InputImage replaced by its link."""

    def one(item: object) -> object:
        return links[item.sha256] if isinstance(item, InputImage) else item

    return {k: [one(v) for v in value] if isinstance(value, list) else one(value) for k, value in inputs.items()}
