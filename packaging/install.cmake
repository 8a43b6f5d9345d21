# Installation (cmake --install) and the Debian package (cpack -G DEB, scripts/package).
# Everything covscreen reads at run time is found relative to its executable (core/paths.h), so the
# layout works under any prefix, unpacked or installed:
#   bin/covscreen, bin/covscreen-decoder         the CLI and its decoder process (found next to it)
#   share/covscreen/models/*.ckpt                the shipped models (the default: deep-ct-net-covid-ct)
#   share/covscreen/examples/                    example images (examples/SOURCES.md: sources, licences)
#   share/covscreen/bench/python/                the PyTorch baseline of `covscreen bench`
#   share/doc/covscreen/                         README.md, docs/*.md, examples/SOURCES.md
#   lib/systemd/system/covscreen-{serve,pacs}.service, and /etc/covscreen/covscreen.conf (prefix /usr)
#   or <prefix>/etc/covscreen/covscreen.conf (any other prefix)
include(GNUInstallDirs)
set(COVSCREEN_SHARE ${CMAKE_INSTALL_DATADIR}/covscreen)
set(COVSCREEN_PACKAGING ${CMAKE_CURRENT_SOURCE_DIR}/packaging)

if(TARGET covscreen)
  install(TARGETS covscreen covscreen-decoder RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
file(GLOB COVSCREEN_SHIPPED_MODELS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/models/*.ckpt
     ${CMAKE_CURRENT_SOURCE_DIR}/models/*.md ${CMAKE_CURRENT_SOURCE_DIR}/models/*.json)
install(FILES ${COVSCREEN_SHIPPED_MODELS} DESTINATION ${COVSCREEN_SHARE}/models)
install(DIRECTORY examples/ DESTINATION ${COVSCREEN_SHARE}/examples)
install(PROGRAMS bench/python/pytorch_baseline.py DESTINATION ${COVSCREEN_SHARE}/bench/python)
file(GLOB COVSCREEN_DOCS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/docs/*.md ${CMAKE_CURRENT_SOURCE_DIR}/LICENSE*
     ${CMAKE_CURRENT_SOURCE_DIR}/COPYING*)
install(FILES README.md examples/SOURCES.md ${COVSCREEN_DOCS} DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${COVSCREEN_PACKAGING}/covscreen-serve.service ${COVSCREEN_PACKAGING}/covscreen-pacs.service
        DESTINATION lib/systemd/system)
# The configuration belongs in /etc when the prefix is /usr (the package), else under the prefix;
# decided at install time, where cpack's prefix (/usr, with DESTDIR) is known. file(INSTALL) puts
# $DESTDIR before an absolute destination.
install(CODE "
  if(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
    set(covscreen_etc \"/etc/covscreen\")
  else()
    set(covscreen_etc \"\${CMAKE_INSTALL_PREFIX}/etc/covscreen\")
  endif()
  file(INSTALL \"${COVSCREEN_PACKAGING}/covscreen.conf\" DESTINATION \"\${covscreen_etc}\")
")

# ---- the Debian package: covscreen_<version>_<arch>.deb in the build folder
set(COVSCREEN_PACKAGE_CONTACT "covscreen maintainers <covscreen@invalid>"
    CACHE STRING "Maintainer field of the Debian package")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME covscreen)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT ${COVSCREEN_PACKAGE_CONTACT})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "screen chest CT slices and X-rays for COVID-19 (research use only, not a medical device)")
set(CPACK_PACKAGE_DESCRIPTION
    "covscreen screens chest CT slices and chest X-rays for COVID-19 with LibTorch (Deep-CT-Net and\n\
Deep-CXR-Net): files, DICOM studies, a DICOMweb archive (covscreen-pacs.service) or as an HTTP\n\
service (covscreen-serve.service). It ships a CT and an X-ray model.\n\
Research use only. covscreen is not a medical device.")
# DESTDIR staging with the prefix /usr at install time, so /etc/covscreen/covscreen.conf lands in
# the package's /etc (cpack then installs under CPACK_INSTALL_PREFIX).
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends from the ELF files' libraries (dpkg-shlibdeps: Debian's runtime packages, never -dev).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Optional: `covscreen bench --baseline` runs the PyTorch reference with Debian's python3-torch.
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "python3-torch, python3-torchvision")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${COVSCREEN_PACKAGING}/conffiles ${COVSCREEN_PACKAGING}/postinst
    ${COVSCREEN_PACKAGING}/prerm ${COVSCREEN_PACKAGING}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
