"""The hub serves JupyterLab's files once per environment (hub/lab_static.py): cacheable across workspaces, and
nothing but an environment's ``share/jupyter/lab/static`` folder. A real tornado server with the real handler on a
folder laid out as the builder lays out environments; the real hub and browser use it in
``tests/e2e/test_open_workspace.py``."""

from __future__ import annotations

from pathlib import Path

from tornado.testing import AsyncHTTPTestCase
from tornado.web import Application

from gereedschapskist.hub.lab_static import (
    ENV_NAME, IMMUTABLE, LAB_FILES, LAB_STATIC_PATH, lab_static_handlers, static_url_prefix,
)

ENV = "tiny-cowsay-1.0.0-4c5ba9adc8660568"


def test_the_prefix_is_under_the_hub_and_names_the_environment():
    assert static_url_prefix("/hub/", ENV) == f"/hub/gereedschapskist/lab-static/{ENV}/"
    assert ENV_NAME.fullmatch(ENV) and ENV_NAME.fullmatch("ml-python-2024.2-0123456789abcdef")
    assert not any(ENV_NAME.fullmatch(name) for name in ("..", ".hidden-1-0123456789abcdef", "x", ENV + "/..",
                                                          "tiny-cowsay-1.0.0-XYZ"))


class LabStaticTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        import tempfile

        self.envs = Path(tempfile.mkdtemp())
        static = self.envs / ENV / LAB_FILES
        static.mkdir(parents=True)
        (static / "main.efd36b46f3b45eb8.js").write_text("console.log('lab');")
        (static / "style.js").write_text("/* style */")
        (self.envs / ENV / "secret.txt").write_text("not JupyterLab's")
        (self.envs / "not-an-env").mkdir()
        (self.envs / "not-an-env" / "x.js").write_text("x")
        handlers = [(f"/hub{path}", handler, kwargs) for path, handler, kwargs in lab_static_handlers(self.envs)]
        return Application(handlers)

    def url(self, rest: str) -> str:
        return f"/hub{LAB_STATIC_PATH}/{rest}"

    def test_a_hashed_file_is_served_immutable(self):
        response = self.fetch(self.url(f"{ENV}/main.efd36b46f3b45eb8.js?v=efd36b46f3b45eb8"))
        assert response.code == 200 and response.body == b"console.log('lab');"
        assert response.headers["Cache-Control"] == IMMUTABLE and "Expires" not in response.headers
        assert "javascript" in response.headers["Content-Type"]
        assert self.fetch(self.url(f"{ENV}/main.efd36b46f3b45eb8.js"), method="HEAD").code == 200

    def test_a_file_without_a_hash_is_revalidated(self):
        response = self.fetch(self.url(f"{ENV}/style.js"))
        assert response.code == 200 and response.headers["Cache-Control"] == "no-cache"
        again = self.fetch(self.url(f"{ENV}/style.js"), headers={"If-None-Match": response.headers["Etag"]})
        assert again.code == 304

    def test_nothing_outside_an_environments_lab_folder(self):
        for rest in (f"{ENV}/../../secret.txt", f"{ENV}/..%2F..%2Fsecret.txt", f"{ENV}/missing.js",
                     "not-an-env/x.js", f"tiny-cowsay-1.0.0-{'f' * 16}/main.efd36b46f3b45eb8.js"):
            response = self.fetch(self.url(rest))
            assert response.code in (403, 404), (rest, response.code)
            assert b"not JupyterLab's" not in response.body and response.body != b"x"
