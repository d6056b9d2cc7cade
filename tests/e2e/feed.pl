#!/usr/bin/perl
# Feeds mail files to Znuny exactly as `bin/znuny.Console.pl Maint::PostMaster::Read < FILE` does, one
# after the other in one Perl process (no Perl start and module load per mail). Each mail gets a fresh
# object manager, as a new process would; destroying it ends the ticket transaction, which is when
# Znuny fires the ArticleCreate invoker. Run as the Znuny user from the Znuny directory:
#   perl feed.pl FILE...     prints one line per file: FILE <TAB> exit code <TAB> TicketID <TAB> ArticleID
# (exit 0 imported, 75 temporary failure; the ticket PostMaster::Run answered and its newest email
# article, empty if none). Several may run at once on different mails (no follow-ups among them).
use strict;
use warnings;
use lib '.';
use lib 'Kernel/cpan-lib';
use lib 'Custom';
use Kernel::System::ObjectManager;

# PostMaster::Run answers (return code, TicketID); the command Read keeps them to itself, so note them here.
require Kernel::System::PostMaster;
my @Answer;
{
    no warnings 'redefine';    ## no critic
    my $Run = \&Kernel::System::PostMaster::Run;
    *Kernel::System::PostMaster::Run = sub { @Answer = $Run->(@_); return @Answer; };
}

$| = 1;
my @Files = map {"$_"} @ARGV;    # copies: Znuny's objects reset @ARGV when they go
for my $Index ( 0 .. $#Files ) {
    my $File = "$Files[$Index]";
    my $Exit;

    # A run that dies is delivered again, as a mail server retries a delivery that failed: Znuny's file
    # cache can die in File::Path::mkpath when another process (our agent's REST login) cleans the same
    # cache type at that moment ("mkdir .../CacheFileStorable/User/7: No such file or directory").
    for my $Attempt ( 1 .. 3 ) {
        @Answer = ();
        my $Died = !eval {
            open my $In, '<', $File or die "cannot read $File: $!\n";
            local *STDIN = $In;
            local $Kernel::OM = Kernel::System::ObjectManager->new(
                'Kernel::System::Log' => { LogPrefix => 'Znuny-znuny.Console.pl-Maint::PostMaster::Read' },
            );
            $Exit = $Kernel::OM->Get('Kernel::System::Console::InterfaceConsole')
                ->Run( 'Maint::PostMaster::Read', '--quiet' );
            $Kernel::OM->ObjectsDiscard();
            1;
        };
        last if !$Died;
        print STDERR "feed.pl: $File attempt $Attempt died: $@";
        $Exit = 75;    # EX_TEMPFAIL, what the mail server would see
        sleep 1;
    }
    my $TicketID  = $Answer[1];
    my $ArticleID = $TicketID ? last_email_article($TicketID) : undef;
    print join( "\t", $File, $Exit, $TicketID // '', $ArticleID // '' ), "\n";
}

# The mail's article: the ticket's newest email article (nothing else writes to it meanwhile).
sub last_email_article {
    my ($TicketID) = @_;
    local $Kernel::OM = Kernel::System::ObjectManager->new();
    my $DB = $Kernel::OM->Get('Kernel::System::DB');
    $DB->Prepare(
        SQL => "SELECT MAX(a.id) FROM article a JOIN communication_channel c ON c.id = a.communication_channel_id"
            . " WHERE a.ticket_id = ? AND c.name = 'Email'",
        Bind => [ \$TicketID ],
    );
    my ($ArticleID) = $DB->FetchrowArray();
    return $ArticleID;
}
