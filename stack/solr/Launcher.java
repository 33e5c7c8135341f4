/*
 * Local Solr 9 server for CKAN, from Maven Central jars (see README.md).
 *
 *   java -Xmx512m -cp "<lib>/*" stack/solr/Launcher.java <SOLR_HOME> <PORT>
 *
 * Runs as a single source file (Java 11+ "source-file mode"): no build step, no stale classes.
 * Measured (Java 17, 2 cores): ~3.8 s from `java` to the ready line in source mode, ~2.9-3.8 s
 * when compiled first (javac -cp "<lib>/*" -d <dir> Launcher.java; java -cp "<dir>:<lib>/*"
 * Launcher ...). Compiling saves at most ~1 s per start, so source mode was kept.
 *
 * Starts org.apache.solr.embedded.JettySolrRunner (from solr-test-framework) on 127.0.0.1:PORT,
 * context /solr, with the cores found under SOLR_HOME (see build_home.sh). Once every core is
 * loaded it prints "Solr ready at http://127.0.0.1:PORT/solr" and blocks. SIGTERM / SIGINT stop
 * Jetty and Solr cleanly and the process exits 0.
 *
 * Exit codes: 0 stopped by signal; 1 a core failed to load or Solr failed to start;
 *             2 bad usage / SOLR_HOME missing; 3 port already in use.
 * Solr's logs go to stdout (log4j2; SOLR_HOME/log4j2.xml, written by build_home.sh);
 * this launcher's own messages go to stderr, prefixed "solr-launcher:", except the ready line.
 */

import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.solr.core.CoreContainer;
import org.apache.solr.embedded.JettyConfig;
import org.apache.solr.embedded.JettySolrRunner;

public class Launcher {
  private static final String HOST = "127.0.0.1"; // JettySolrRunner always binds to this

  // Strong reference, or java.util.logging may forget the level set on it.
  private static final java.util.logging.Logger JUL_JERSEY =
      java.util.logging.Logger.getLogger("org.glassfish.jersey");

  private static void setDefault(String key, String value) {
    if (System.getProperty(key) == null) System.setProperty(key, value);
  }

  private static void msg(String s) {
    System.err.println("solr-launcher: " + s);
  }

  private static void die(int code, String s) {
    msg(s);
    System.exit(code);
  }

  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      die(2, "usage: java -cp '<lib>/*' Launcher.java <SOLR_HOME> <PORT>");
    }
    File home = new File(args[0]).getAbsoluteFile();
    int port;
    try {
      port = Integer.parseInt(args[1]);
    } catch (NumberFormatException e) {
      port = -1;
    }
    if (port < 1 || port > 65535) die(2, "bad port: " + args[1]);
    if (!new File(home, "solr.xml").isFile()) {
      die(2, "no solr.xml in " + home + " (run stack/solr/build_home.sh first)");
    }

    // Logging must be configured before any Solr/Jetty class logs anything.
    File log4j = new File(home, "log4j2.xml");
    if (System.getProperty("log4j2.configurationFile") == null && log4j.isFile()) {
      System.setProperty("log4j2.configurationFile", log4j.toURI().toString());
    }
    System.setProperty("solr.solr.home", home.getPath());
    // No Solr install dir here; pointing these at SOLR_HOME silences Solr's start-up complaints
    // (nothing is written there: logs go to stdout, no SOLR_HOME/lib, no modules).
    setDefault("solr.install.dir", home.getPath());
    setDefault("solr.log.dir", home.getPath());
    // Jersey (Solr's v2 API) logs a harmless warning through java.util.logging at start-up.
    JUL_JERSEY.setLevel(java.util.logging.Level.SEVERE);

    // Fail fast and clearly if the port is taken (Jetty would otherwise retry for a while).
    try (ServerSocket probe = new ServerSocket()) {
      probe.bind(new InetSocketAddress(InetAddress.getByName(HOST), port));
    } catch (IOException e) {
      die(3, "port " + port + " on " + HOST + " is already in use (" + e.getMessage()
          + "); is another Solr running?");
    }

    JettyConfig cfg =
        JettyConfig.builder()
            .setPort(port)
            .setContext("/solr")
            .stopAtShutdown(false) // our own shutdown hook stops it
            .withPortRetryTime(0)
            .waitForLoadingCoresToFinish(120_000L)
            .build();
    JettySolrRunner jetty = new JettySolrRunner(home.getPath(), new Properties(), cfg);

    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  try {
                    if (jetty.isRunning()) {
                      msg("stopping Solr");
                      jetty.stop();
                      msg("Solr stopped");
                    }
                  } catch (Exception e) {
                    msg("error while stopping Solr: " + e);
                  } finally {
                    stopped.countDown();
                  }
                },
                "solr-launcher-shutdown"));
    // Default JVM exit status on SIGTERM is 143; a requested stop is a normal exit here.
    for (String sig : new String[] {"TERM", "INT"}) {
      sun.misc.Signal.handle(new sun.misc.Signal(sig), s -> System.exit(0));
    }

    long t0 = System.nanoTime();
    try {
      jetty.start();
    } catch (Exception e) {
      Throwable root = e;
      while (root.getCause() != null) root = root.getCause();
      if (root instanceof java.net.BindException) {
        die(3, "port " + port + " on " + HOST + " is already in use: " + root.getMessage());
      }
      msg("Solr failed to start: " + e);
      e.printStackTrace();
      System.exit(1);
    }

    CoreContainer cc = jetty.getCoreContainer();
    if (cc == null) die(1, "Solr started but has no CoreContainer (see the log above)");
    Map<String, CoreContainer.CoreLoadFailure> failures = cc.getCoreInitFailures();
    if (!failures.isEmpty()) {
      for (Map.Entry<String, CoreContainer.CoreLoadFailure> f : failures.entrySet()) {
        Throwable root = f.getValue().exception;
        while (root.getCause() != null) root = root.getCause();
        msg("core '" + f.getKey() + "' failed to load: " + root);
      }
      die(1, "some cores failed to load; stopping");
    }
    if (cc.getLoadedCoreNames().isEmpty()) {
      die(1, "no cores under " + home + " (run stack/solr/build_home.sh)");
    }
    msg(String.format("cores %s loaded in %.1f s", cc.getLoadedCoreNames(),
        (System.nanoTime() - t0) / 1e9));
    System.out.println("Solr ready at http://" + HOST + ":" + jetty.getLocalPort() + "/solr");
    System.out.flush();

    stopped.await(); // until a signal; the hook does the work and the JVM exits
  }
}
