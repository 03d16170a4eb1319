package pinlake.hadoop;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.ChecksumFs;
import org.apache.hadoop.fs.DelegateToFileSystem;

/** Hadoop's checksummed local {@code AbstractFileSystem} (what {@code FileContext} uses) over
 * {@link NioRawLocalFileSystem} ({@code fs.AbstractFileSystem.file.impl}), as Hadoop's
 * {@code LocalFs} is over {@code RawLocalFileSystem}. */
public class NioLocalFs extends ChecksumFs {
  public NioLocalFs(URI uri, Configuration conf) throws IOException, URISyntaxException {
    super(new Raw(uri, conf));
  }

  /** {@link NioRawLocalFileSystem} as an {@code AbstractFileSystem} (Hadoop's {@code RawLocalFs}). */
  static class Raw extends DelegateToFileSystem {
    Raw(URI uri, Configuration conf) throws IOException, URISyntaxException {
      super(uri, new NioRawLocalFileSystem(), conf, "file", false);
    }
  }
}
