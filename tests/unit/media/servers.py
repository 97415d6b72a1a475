"""A real HTTP server on 127.0.0.1 for the URL tests, with one route per misbehaviour."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.unit.media.makers import image_bytes

PNG = image_bytes("PNG")


class MediaServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[tuple[str, str]] = []  # (path, Host header)
        self.release = threading.Event()  # lets stalled handlers go at teardown

    @property
    def port(self) -> int:
        return self.server_address[1]


class Handler(BaseHTTPRequestHandler):
    server: MediaServer

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        self.server.requests.append((self.path, self.headers.get("Host", "")))
        name = self.path.strip("/").replace("-", "_").replace(".", "_")
        route = getattr(self, "route_" + name, None)
        try:
            (route or self.route_missing)()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up, as it should past a limit

    def send(self, status, body=b"", **headers):
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), str(value))
        self.end_headers()
        self.wfile.write(body)

    def route_cat_png(self):
        self.send(200, PNG, Content_Length=len(PNG), Content_Type="image/png")

    def route_missing(self):
        self.send(404, b"no", Content_Length=2)

    def route_same_host(self):
        self.send(302, Location="/cat.png", Content_Length=0)

    def route_other_host(self):
        self.send(302, Location=f"http://localhost:{self.server.port}/cat.png", Content_Length=0)

    def route_loop(self):
        self.send(301, Location="/loop", Content_Length=0)

    def route_declared_big(self):
        self.send(200, b"x" * 10, Content_Length=10**9)

    def route_endless(self):  # no Content-Length: the body ends when the server closes
        self.send(200)
        while True:
            self.wfile.write(b"\0" * 65536)

    def route_chunked_big(self):
        self.protocol_version = "HTTP/1.1"
        self.send(200, Transfer_Encoding="chunked", Connection="close")
        piece = b"\0" * 10_000
        for _ in range(50):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    def route_stall(self):  # headers and a little body, then silence
        self.send(200, b"x" * 10, Content_Length=1000)
        self.wfile.flush()
        self.server.release.wait(10)

    def route_drip(self):  # a byte every 20 ms: never silent, never done
        self.send(200)
        while not self.server.release.wait(0.02):
            self.wfile.write(b"x")
            self.wfile.flush()
