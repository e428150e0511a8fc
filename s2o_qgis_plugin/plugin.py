"""QGIS glue: the Processing provider, the plugin menu, and the dependency check.

At load the plugin folder ``_deps`` (where the installer puts onnxruntime, rasterio and
scikit-image) goes first on sys.path. When a dependency still cannot be imported, the provider
is registered anyway (its algorithms explain what is missing when run) and a message bar offers
to install the packages.
"""

from qgis.core import Qgis, QgsApplication, QgsTask
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction, QPushButton

from . import deps
from .provider import ICON_PATH, S2OProvider

TRANSLATE_ACTION = "Translate SAR to optical…"
TRANSLATE_ALGORITHM = "s2o:translate"
MESSAGE_TITLE = "S2O SAR-to-optical"


class S2OPlugin:
    def __init__(self, iface):
        self.iface = iface
        self.provider = None
        self.actions = []
        self.dialog = None
        self.message = None
        self.task = None
        deps.add_deps_to_path()

    # -- Processing (qgis_process calls only this) --------------------------------------------
    def initProcessing(self):  # noqa: N802 (QGIS API name)
        if self.provider is None:
            self.provider = S2OProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    # -- GUI ------------------------------------------------------------------------------------
    def initGui(self):  # noqa: N802
        self.initProcessing()
        parent = self.iface.mainWindow()
        translate = QAction(QIcon(ICON_PATH), TRANSLATE_ACTION, parent)
        translate.triggered.connect(self.open_translate_dialog)
        install = QAction(deps.INSTALL_ACTION, parent)
        install.triggered.connect(self.install_dependencies)
        self.actions = [translate, install]
        for action in self.actions:
            self.iface.addPluginToMenu(deps.MENU_NAME, action)
        self.iface.addToolBarIcon(translate)
        self.check_dependencies()

    def unload(self):
        for action in self.actions:
            self.iface.removePluginMenu(deps.MENU_NAME, action)
        if self.actions:
            self.iface.removeToolBarIcon(self.actions[0])
        self.actions = []
        self._close_message()
        if self.dialog is not None:
            self.dialog.close()
            self.dialog = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None

    def open_translate_dialog(self):
        """The Processing dialog of s2o:translate, non-modal like the toolbox opens it."""
        from processing import createAlgorithmDialog

        self.dialog = createAlgorithmDialog(TRANSLATE_ALGORITHM)
        self.dialog.show()

    # -- dependencies ---------------------------------------------------------------------------
    def check_dependencies(self):
        """Show a message bar with an Install button when packages are missing."""
        missing = deps.missing_packages()
        if not missing:
            return []
        bar = self.iface.messageBar()
        widget = bar.createMessage(
            MESSAGE_TITLE,
            f"missing Python package(s) {', '.join(missing)}; the algorithms cannot run "
            f"without them.",
        )
        button = QPushButton("Install", widget)
        button.clicked.connect(self.install_dependencies)
        widget.layout().addWidget(button)
        self.message = bar.pushWidget(widget, Qgis.Warning)
        return missing

    def _close_message(self):
        if self.message is not None:
            self.iface.messageBar().popWidget(self.message)
            self.message = None

    def install_dependencies(self):
        """pip-install the missing packages into <plugin>/_deps in a background task."""
        bar = self.iface.messageBar()
        missing = deps.missing_packages()
        if not missing:
            bar.pushMessage(MESSAGE_TITLE, "all Python dependencies are installed.", Qgis.Info)
            return
        if self.task is not None:
            return
        self._close_message()
        bar.pushMessage(
            MESSAGE_TITLE, f"installing {', '.join(missing)} into {deps.DEPS_DIR}…", Qgis.Info
        )

        def run(task):
            deps.install(missing, log=lambda text: None)
            return missing

        def finished(exception, result=None):
            self.task = None
            if exception is None:
                bar.pushMessage(
                    MESSAGE_TITLE,
                    f"installed {', '.join(result)}; the algorithms can run.",
                    Qgis.Success,
                )
            else:
                bar.pushMessage(
                    MESSAGE_TITLE,
                    f"installation failed: {exception}. Command: "
                    f"{' '.join(deps.install_command(missing))}",
                    Qgis.Critical,
                )

        self.task = QgsTask.fromFunction(
            f"Installing {', '.join(missing)}", run, on_finished=finished
        )
        QgsApplication.taskManager().addTask(self.task)
