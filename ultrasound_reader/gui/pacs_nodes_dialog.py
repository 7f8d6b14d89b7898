"""File ▸ PACS Nodes… (the PACS preferences): add, edit, test and remove the nodes in use.

The nodes are the ones ``ultrasound-reader pacs nodes`` keeps (dicom.pacs.nodes: a
JSON file in the user config folder); a DICOMweb password or token goes to the
keyring (or the private credentials file), never into the nodes file or QSettings,
and is never shown back: an empty password field on edit keeps the stored one.
Every value is checked by :class:`~ultrasound_reader.dicom.pacs.nodes.Node` itself;
a refusal is shown in the dialog, which stays open.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ultrasound_reader.dicom.pacs import nodes as pacs_nodes
from ultrasound_reader.dicom.pacs.nodes import DEFAULT_CALLING_AE, Node
from ultrasound_reader.errors import UserError
from ultrasound_reader.gui import theme


def _echo_job(_job: Any, node: Node) -> float:
    from ultrasound_reader.dicom import pacs

    return pacs.echo(node)


class NodesDialog(QDialog):
    """The node list on the left, the selected node's fields on the right; Save writes one node."""

    nodesChanged = Signal()
    tested = Signal(bool)  # a Test Connection answered (True) or failed (False)

    def __init__(self, parent: QWidget | None = None, submit: Callable[..., Any] | None = None) -> None:
        super().__init__(parent)
        self.submit = submit  # the window's worker pool (Test runs the echo there); None: no Test button
        self.setObjectName("pacsNodesDialog")
        self.setWindowTitle("PACS nodes")
        self.nodes: dict[str, Node] = {}
        outer = QHBoxLayout(self)
        left = QVBoxLayout()
        self.list = QListWidget(self)
        self.list.setObjectName("nodeList")
        self.list.setMinimumWidth(150)
        left.addWidget(self.list, 1)
        row = QHBoxLayout()
        self.new_button = QPushButton("New", self)
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.setObjectName("removeNode")
        row.addWidget(self.new_button)
        row.addWidget(self.remove_button)
        left.addLayout(row)
        outer.addLayout(left)

        right = QVBoxLayout()
        form = QFormLayout()
        self.name = QLineEdit(self)
        self.name.setObjectName("nodeName")
        self.kind = QComboBox(self)
        self.kind.setObjectName("nodeKind")
        self.kind.addItem("DIMSE (C-FIND / C-GET / C-MOVE / C-STORE)", "dimse")
        self.kind.addItem("DICOMweb (QIDO / WADO / STOW)", "dicomweb")
        form.addRow("Name", self.name)
        form.addRow("Protocol", self.kind)
        right.addLayout(form)

        self.stack = QStackedWidget(self)
        dimse = QWidget(self.stack)
        f1 = QFormLayout(dimse)
        f1.setContentsMargins(0, 0, 0, 0)
        self.ae_title = QLineEdit(dimse)
        self.ae_title.setObjectName("aeTitle")
        self.host = QLineEdit(dimse)
        self.host.setObjectName("host")
        self.port = QSpinBox(dimse)
        self.port.setObjectName("port")
        self.port.setRange(1, 65535)
        self.port.setValue(104)
        self.calling_ae = QLineEdit(DEFAULT_CALLING_AE, dimse)
        self.calling_ae.setObjectName("callingAe")
        self.move_port = QSpinBox(dimse)
        self.move_port.setObjectName("movePort")
        self.move_port.setRange(1, 65535)
        self.move_port.setValue(11112)
        f1.addRow("Called AE title", self.ae_title)
        f1.addRow("Host", self.host)
        f1.addRow("Port", self.port)
        f1.addRow("Our AE title", self.calling_ae)
        f1.addRow("C-MOVE port (ours)", self.move_port)
        web = QWidget(self.stack)
        f2 = QFormLayout(web)
        f2.setContentsMargins(0, 0, 0, 0)
        self.url = QLineEdit(web)
        self.url.setObjectName("url")
        self.url.setPlaceholderText("https://pacs.example/dicom-web")
        self.auth = QComboBox(web)
        self.auth.setObjectName("auth")
        for label, value in (("none", "none"), ("basic (user + password)", "basic"), ("bearer token", "bearer")):
            self.auth.addItem(label, value)
        self.username = QLineEdit(web)
        self.username.setObjectName("username")
        self.secret = QLineEdit(web)
        self.secret.setObjectName("secret")
        self.secret.setEchoMode(QLineEdit.EchoMode.Password)
        f2.addRow("Base URL", self.url)
        f2.addRow("Authentication", self.auth)
        f2.addRow("User name", self.username)
        f2.addRow("Password / token", self.secret)
        self.stack.addWidget(dimse)
        self.stack.addWidget(web)
        right.addWidget(self.stack)
        f3 = QFormLayout()
        self.timeout = QDoubleSpinBox(self)
        self.timeout.setObjectName("timeout")
        self.timeout.setRange(1, 3600)
        self.timeout.setValue(pacs_nodes.DEFAULT_TIMEOUT_S)
        self.timeout.setSuffix(" s")
        f3.addRow("Timeout", self.timeout)
        right.addLayout(f3)
        self.message = QLabel("", self)
        self.message.setObjectName("nodeMessage")
        self.message.setWordWrap(True)
        self.message.setMinimumHeight(40)
        right.addWidget(self.message)
        right.addStretch(1)
        self.where = QLabel("", self)
        self.where.setObjectName("secretStore")
        self.where.setWordWrap(True)
        self.where.setStyleSheet(f"color: {theme.TEXT_DIM}; font-size: 11px;")
        right.addWidget(self.where)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Close,
                                        self)
        self.test_button = self.buttons.addButton("Test Connection", QDialogButtonBox.ButtonRole.ActionRole)
        self.test_button.setObjectName("testNode")
        self.test_button.setToolTip("C-ECHO (DIMSE) or a one-result QIDO (DICOMweb) with the values in the fields")
        self.test_button.setVisible(submit is not None)
        self.test_button.clicked.connect(self.test_connection)
        right.addWidget(self.buttons)
        outer.addLayout(right, 1)

        self.kind.currentIndexChanged.connect(lambda i: self.stack.setCurrentIndex(i))
        self.list.currentTextChanged.connect(self._show)
        self.new_button.clicked.connect(self.new_node)
        self.remove_button.clicked.connect(self.remove_current)
        self.buttons.button(QDialogButtonBox.StandardButton.Save).clicked.connect(self.save)
        self.buttons.rejected.connect(self.close)
        self.resize(700, 470)
        self.reload()

    # -------------------------------------------------------------------------------- list
    def reload(self, select: str | None = None) -> None:
        problem = ""
        try:
            self.nodes = pacs_nodes.load_nodes()
        except UserError as exc:  # shown; Save refuses to overwrite the file until it is fixed
            self.nodes = {}
            problem = str(exc)
        self.where.setText(f"Nodes file: {pacs_nodes.nodes_path()}\nPasswords and tokens: "
                           f"{pacs_nodes.secret_store()} (never in the nodes file)")
        self.list.blockSignals(True)
        self.list.clear()
        self.list.addItems(sorted(self.nodes))
        self.list.blockSignals(False)
        names = sorted(self.nodes)
        if select in self.nodes:
            self.list.setCurrentRow(names.index(select))
        elif names:
            self.list.setCurrentRow(0)
        else:
            self.new_node()
        if problem:
            self._say(problem, error=True)

    def _show(self, name: str) -> None:
        node = self.nodes.get(name)
        if node is None:
            return
        self.name.setText(node.name)
        self.kind.setCurrentIndex(0 if node.kind == "dimse" else 1)
        self.ae_title.setText(node.ae_title)
        self.host.setText(node.host)
        self.port.setValue(node.port or 104)
        self.calling_ae.setText(node.calling_ae)
        self.move_port.setValue(node.move_port)
        self.url.setText(node.url)
        self.auth.setCurrentIndex(max(0, self.auth.findData(node.auth)))
        self.username.setText(node.username)
        self.secret.clear()
        self.secret.setPlaceholderText("stored (leave empty to keep)" if node.auth != "none" else "")
        self.timeout.setValue(node.timeout)
        self._say("")

    def new_node(self) -> None:
        self.list.clearSelection()
        self.name.clear()
        for w in (self.ae_title, self.host, self.url, self.username, self.secret):
            w.clear()
        self.secret.setPlaceholderText("")
        self.calling_ae.setText(DEFAULT_CALLING_AE)
        self.name.setFocus()
        self._say("A new node: fill in its fields and Save")

    # -------------------------------------------------------------------------------- edits
    def node_from_fields(self) -> Node:
        kind = str(self.kind.currentData())
        common = {"name": self.name.text().strip(), "kind": kind, "timeout": float(self.timeout.value())}
        if kind == "dimse":
            return Node(**common, ae_title=self.ae_title.text(), host=self.host.text().strip(),
                        port=int(self.port.value()), calling_ae=self.calling_ae.text() or DEFAULT_CALLING_AE,
                        move_port=int(self.move_port.value()))
        return Node(**common, url=self.url.text().strip(), auth=str(self.auth.currentData()),
                    username=self.username.text().strip())

    def save(self) -> bool:
        """Write the node in the fields (replacing one of that name); False, said in the dialog, if refused."""
        try:
            node = self.node_from_fields()
            secret = self.secret.text()
            if node.kind == "dicomweb" and node.auth != "none" and not secret and \
                    pacs_nodes.load_secret(node.name) is None:
                raise UserError(f"node {node.name}: {node.auth} authentication needs a password or token")
            pacs_nodes.add_node(node, secret or None, replace=True)
        except UserError as exc:
            self._say(str(exc), error=True)
            return False
        except OSError as exc:
            self._say(f"{pacs_nodes.nodes_path()}: cannot save ({exc.strerror or exc})", error=True)
            return False
        self.reload(select=node.name)
        self._say(f"Saved node {node.name} ({node.address})")
        self.nodesChanged.emit()
        return True

    def test_connection(self) -> int:
        """Echo the node in the fields (not saved yet is fine) in a worker; the answer shows in the dialog."""
        if self.submit is None:
            return 0
        try:
            node = self.node_from_fields()
            if node.kind == "dicomweb" and node.auth != "none":
                node.secret = self.secret.text() or pacs_nodes.load_secret(node.name)
                if not node.secret:
                    raise UserError(f"node {node.name}: {node.auth} authentication needs a password or token")
        except UserError as exc:
            self._say(str(exc), error=True)
            return 0
        self.test_button.setEnabled(False)
        self._say(f"Testing {node.address}…")

        def done(seconds: float) -> None:
            self.test_button.setEnabled(True)
            self._say(f"{node.name} ({node.address}) answered in {seconds * 1000:.0f} ms")
            self.tested.emit(True)

        def failed(message: str, _user: bool) -> None:
            self.test_button.setEnabled(True)
            self._say(message, error=True)
            self.tested.emit(False)

        return int(self.submit("pacs-echo", _echo_job, node, on_done=done, on_error=failed))

    def remove_current(self) -> None:
        item = self.list.currentItem()
        if item is None:
            return
        name = item.text()
        try:
            pacs_nodes.remove_node(name)
        except (UserError, OSError) as exc:
            self._say(str(exc), error=True)
            return
        self.reload()
        self._say(f"Removed node {name}")
        self.nodesChanged.emit()

    def _say(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(f"color: {theme.ACCENT if error else theme.TEXT_DIM};")
